"""Configuration of a gRPC server, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MIB = 1024 * 1024

# gRPC's default receive limit is 4 MiB: too small for one 24-slice 256×256 float32 volume
# (6 MiB). Every cervixai server and channel raises it explicitly to this (override per service).
DEFAULT_MAX_MESSAGE_BYTES = 64 * MIB


def integer_variable(env: Mapping[str, str], name: str, default: int) -> int:
    """An integer environment variable; an empty or absent one is ``default``."""
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def number_variable(env: Mapping[str, str], name: str, default: float) -> float:
    """A decimal environment variable; an empty or absent one is ``default``."""
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class ServerConfig:
    """How one gRPC server listens.

    Environment (``PREFIX`` is e.g. ``CERVIXAI_SEGMENTER``): ``PREFIX_HOST``, ``PREFIX_PORT``,
    ``PREFIX_METRICS_PORT`` (0 = no metrics listener), ``PREFIX_MAX_MESSAGE_BYTES``,
    ``PREFIX_MAX_WORKERS``, ``PREFIX_GRACE_SECONDS``, ``PREFIX_TLS_CERT`` / ``PREFIX_TLS_KEY``
    (both or neither), ``PREFIX_TLS_CLIENT_CA`` (mutual TLS: clients must present a certificate
    this CA signed; needs the certificate and key), ``PREFIX_HEALTH_PORT`` (a plaintext port
    serving only grpc.health.v1, for probes that cannot speak TLS; 0 = none),
    ``PREFIX_MAX_CONNECTION_AGE_SECONDS``, ``PREFIX_REFLECTION`` (``true`` / ``false``, default
    true: gRPC server reflection; production turns it off),
    ``CERVIXAI_LOG_LEVEL``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    metrics_port: int = 0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_workers: int = 8
    grace_seconds: float = 20.0
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    health_port: int = 0
    log_level: str = "INFO"
    # Connections are closed (gracefully) after this age so that clients re-resolve and spread
    # over new replicas; 0 keeps them forever.
    max_connection_age_seconds: float = 300.0
    # grpc.reflection lets grpcurl and Postman list the API: on for local runs, off where the
    # API's shape is nobody's business but its clients' (the production overlay)
    reflection: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535 or not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"ports must be in 0..65535, got {self.port} and {self.metrics_port}")
        if self.max_message_bytes < 4 * MIB:
            raise ValueError(
                f"max_message_bytes must be at least 4 MiB, got {self.max_message_bytes}"
            )
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {self.max_workers}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and a key file, or neither")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("mutual TLS (a client CA) needs the server's TLS certificate and key")
        if not 0 <= self.health_port <= 65535:
            raise ValueError(f"the health port must be in 0..65535, got {self.health_port}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(
        cls, prefix: str, env: Mapping[str, str] | None = None, **defaults: object
    ) -> ServerConfig:
        """Read ``PREFIX_*`` variables; ``defaults`` override the class defaults."""
        env = os.environ if env is None else env
        base = cls(**defaults)  # type: ignore[arg-type]

        def get(name: str) -> str | None:
            value = env.get(f"{prefix}_{name}")
            return value if value not in (None, "") else None

        def integer(name: str, default: int) -> int:
            return integer_variable(env, f"{prefix}_{name}", default)

        reflection = (get("REFLECTION") or "").lower()
        if reflection not in ("", "true", "false", "1", "0"):
            raise ValueError(f"{prefix}_REFLECTION must be true or false, got {reflection!r}")
        grace = get("GRACE_SECONDS")
        age = get("MAX_CONNECTION_AGE_SECONDS")
        return cls(
            host=get("HOST") or base.host,
            port=integer("PORT", base.port),
            metrics_port=integer("METRICS_PORT", base.metrics_port),
            max_message_bytes=integer("MAX_MESSAGE_BYTES", base.max_message_bytes),
            max_workers=integer("MAX_WORKERS", base.max_workers),
            grace_seconds=float(grace) if grace is not None else base.grace_seconds,
            tls_cert=get("TLS_CERT") or base.tls_cert,
            tls_key=get("TLS_KEY") or base.tls_key,
            tls_client_ca=get("TLS_CLIENT_CA") or base.tls_client_ca,
            health_port=integer("HEALTH_PORT", base.health_port),
            log_level=env.get("CERVIXAI_LOG_LEVEL") or base.log_level,
            max_connection_age_seconds=float(age) if age is not None
            else base.max_connection_age_seconds,
            reflection=base.reflection if reflection == "" else reflection in ("true", "1"),
        )
