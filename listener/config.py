"""The DICOM listener's configuration, read once from ``CERVIXAI_LISTENER_*`` at start.

The gRPC server (``cervix.v1.Studies``, what the gateway forwards to) reads the common server
variables (:class:`cervixai.service.config.ServerConfig`: ``_HOST``, ``_PORT`` [50054],
``_METRICS_PORT``, ``_GRACE_SECONDS``, ...). The rest is the table in docs/pacs.md.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cervixai.service.components import GATEWAY, LISTENER
from cervixai.service.config import ServerConfig, integer_variable, number_variable

PREFIX = LISTENER.prefix
MB = 1000 * 1000
# DICOM PS3.8 §9.3.1.1: 1–16 characters of the default repertoire, no backslash or control
# characters; leading and trailing spaces are not significant.
_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")


def ae_title(value: str, name: str) -> str:
    title = value.strip()
    if not _AE_TITLE.fullmatch(title):
        raise ValueError(f"{name}: {value!r} is not an AE title (1-16 printable ASCII "
                         f"characters, no backslash)")
    return title


@dataclass(frozen=True)
class Caller:
    """One entry of the allow-list: an AE title (``*``: any), optionally only from an address or
    network."""

    ae_title: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    def admits(self, title: str, address: str) -> bool:
        if self.ae_title != "*" and title.strip() != self.ae_title:
            return False
        if self.network is None:
            return True
        try:
            return ipaddress.ip_address(address) in self.network
        except ValueError:
            return False

    @classmethod
    def parse(cls, entry: str) -> Caller:
        """``MODALITY1`` or ``MODALITY1@10.1.2.3`` or ``PACS@10.1.0.0/16`` or ``*@127.0.0.1``."""
        title, _, where = entry.strip().partition("@")
        network = None
        if where:
            try:
                network = ipaddress.ip_network(where.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{PREFIX}_ALLOWED_CALLERS: {where!r} is not an address or "
                                 f"network") from None
        if title.strip() == "*":
            return cls("*", network)
        return cls(ae_title(title, f"{PREFIX}_ALLOWED_CALLERS"), network)


@dataclass(frozen=True)
class Destination:
    """Where results go by C-STORE: ``AET@host:port``."""

    ae_title: str
    host: str
    port: int

    @property
    def name(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"

    @classmethod
    def parse(cls, value: str) -> Destination:
        title, at, where = value.strip().partition("@")
        host, colon, port = where.rpartition(":")
        if not at or not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{PREFIX}_DESTINATION must be AET@host:port, got {value!r}")
        return cls(ae_title(title, f"{PREFIX}_DESTINATION"), host.strip("[]"), int(port))


@dataclass(frozen=True)
class ListenerConfig:
    spool: Path
    server: ServerConfig
    ae_title: str = "CERVIXAI"
    dicom_port: int = 11112
    allowed_callers: tuple[Caller, ...] = ()
    max_associations: int = 8
    max_study_bytes: int = 50 * MB
    max_pdu_bytes: int = 65536
    quiet_seconds: float = 30.0
    expire_seconds: float = 24 * 3600.0
    status_retention_seconds: float = 7 * 24 * 3600.0
    gateway_address: str = GATEWAY.default_address
    gateway_token_file: Path | None = None
    gateway_tls_ca: Path | None = None
    assess_seconds: float = 130.0
    destination: Destination | None = None
    # DICOM over TLS (PS3.15 Annex B): the SCP's certificate (and the CA its callers' must come
    # from, for mutual TLS); the CA a destination's certificate must come from (and this
    # listener's client certificate, when the PACS asks for one)
    dicom_tls_cert: str | None = None
    dicom_tls_key: str | None = None
    dicom_tls_client_ca: str | None = None
    destination_tls_ca: str | None = None
    destination_tls_cert: str | None = None
    destination_tls_key: str | None = None
    stow_url: str = ""
    stow_token_file: Path | None = None
    export_attempts: int = 6
    export_backoff_seconds: float = 5.0
    export_backoff_max_seconds: float = 600.0
    network_timeout_seconds: float = 30.0
    poll_seconds: float = 1.0

    def __post_init__(self) -> None:
        checks = {"_DICOM_PORT": 0 <= self.dicom_port < 65536,
                  "_MAX_ASSOCIATIONS": self.max_associations >= 1,
                  "_MAX_STUDY_BYTES": self.max_study_bytes >= 1,
                  "_QUIET_SECONDS": self.quiet_seconds > 0,
                  "_EXPIRE_SECONDS": self.expire_seconds > self.quiet_seconds,
                  "_STATUS_RETENTION_SECONDS": self.status_retention_seconds >= 0,
                  "_EXPORT_ATTEMPTS": self.export_attempts >= 1,
                  "_EXPORT_BACKOFF_SECONDS": 0 < self.export_backoff_seconds
                  <= self.export_backoff_max_seconds,
                  "_NETWORK_TIMEOUT_SECONDS": self.network_timeout_seconds > 0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"{PREFIX}{bad[0]} is out of range (docs/pacs.md)")
        if self.stow_url and not re.match(r"https?://", self.stow_url):
            raise ValueError(f"{PREFIX}_STOW_URL must be an http(s) URL")
        for pair in (("DICOM_TLS_CERT", "DICOM_TLS_KEY"),
                     ("DESTINATION_TLS_CERT", "DESTINATION_TLS_KEY")):
            given = [getattr(self, name.lower()) is not None for name in pair]
            if any(given) and not all(given):
                raise ValueError(f"{PREFIX}_{pair[0]} and {PREFIX}_{pair[1]} go together")
        if self.dicom_tls_client_ca and not self.dicom_tls_cert:
            raise ValueError(f"{PREFIX}_DICOM_TLS_CLIENT_CA needs {PREFIX}_DICOM_TLS_CERT/KEY")
        if self.destination_tls_cert and not self.destination_tls_ca:
            raise ValueError(f"{PREFIX}_DESTINATION_TLS_CERT needs {PREFIX}_DESTINATION_TLS_CA")

    @property
    def database(self) -> Path:
        return self.spool / "listener.db"

    @property
    def destinations(self) -> tuple[str, ...]:
        """The names of the export destinations, in export order."""
        return tuple(d for d in (self.destination.name if self.destination else "",
                                 self.stow_url) if d)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ListenerConfig:
        env = os.environ if env is None else env

        def get(name: str, default: str = "") -> str:
            return env.get(f"{PREFIX}_{name}", "").strip() or default

        def number(name: str, default: float) -> float:
            return number_variable(env, f"{PREFIX}_{name}", default)

        def integer(name: str, default: int) -> int:
            return integer_variable(env, f"{PREFIX}_{name}", default)

        spool = get("SPOOL")
        if not spool:
            raise ValueError(f"{PREFIX}_SPOOL is not set; point it at a directory on a "
                             f"persistent volume (the received instances and the database)")
        base = cls(Path(spool), ServerConfig())   # the defaults
        callers = tuple(Caller.parse(e) for e in get("ALLOWED_CALLERS").split(",") if e.strip())
        token, stow_token = get("GATEWAY_TOKEN_FILE"), get("STOW_TOKEN_FILE")
        tls_ca = get("GATEWAY_TLS_CA")
        return cls(
            spool=Path(spool),
            server=ServerConfig.from_env(PREFIX, env, port=LISTENER.port),
            ae_title=ae_title(get("AE_TITLE", "CERVIXAI"), f"{PREFIX}_AE_TITLE"),
            dicom_port=integer("DICOM_PORT", 11112),
            allowed_callers=callers,
            max_associations=integer("MAX_ASSOCIATIONS", base.max_associations),
            max_study_bytes=integer("MAX_STUDY_BYTES", base.max_study_bytes),
            max_pdu_bytes=integer("MAX_PDU_BYTES", base.max_pdu_bytes),
            quiet_seconds=number("QUIET_SECONDS", base.quiet_seconds),
            expire_seconds=number("EXPIRE_SECONDS", base.expire_seconds),
            status_retention_seconds=number("STATUS_RETENTION_SECONDS",
                                            base.status_retention_seconds),
            gateway_address=get("GATEWAY_ADDRESS", GATEWAY.default_address),
            gateway_token_file=Path(token) if token else None,
            gateway_tls_ca=Path(tls_ca) if tls_ca else None,
            assess_seconds=number("ASSESS_SECONDS", base.assess_seconds),
            destination=Destination.parse(d) if (d := get("DESTINATION")) else None,
            stow_url=get("STOW_URL"),
            stow_token_file=Path(stow_token) if stow_token else None,
            export_attempts=integer("EXPORT_ATTEMPTS", base.export_attempts),
            export_backoff_seconds=number("EXPORT_BACKOFF_SECONDS",
                                          base.export_backoff_seconds),
            export_backoff_max_seconds=number("EXPORT_BACKOFF_MAX_SECONDS",
                                              base.export_backoff_max_seconds),
            network_timeout_seconds=number("NETWORK_TIMEOUT_SECONDS",
                                           base.network_timeout_seconds),
            dicom_tls_cert=get("DICOM_TLS_CERT") or None,
            dicom_tls_key=get("DICOM_TLS_KEY") or None,
            dicom_tls_client_ca=get("DICOM_TLS_CLIENT_CA") or None,
            destination_tls_ca=get("DESTINATION_TLS_CA") or None,
            destination_tls_cert=get("DESTINATION_TLS_CERT") or None,
            destination_tls_key=get("DESTINATION_TLS_KEY") or None,
        )
