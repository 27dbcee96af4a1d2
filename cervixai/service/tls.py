"""TLS and mutual TLS for every gRPC server and client of the system, with certificates re-read
when their files change (a Kubernetes secret rotated in place) and no connection dropped.

Servers: ``PREFIX_TLS_CERT`` / ``PREFIX_TLS_KEY`` serve TLS; ``PREFIX_TLS_CLIENT_CA`` also
requires each client to present a certificate that CA signed (mutual TLS), and refuses the
handshake otherwise. gRPC asks :func:`server_credentials`'s fetcher before each new handshake:
when a file's modification time has changed, the new files are loaded (a pair that fails to load
keeps the old one, logged), so new connections get the new certificate while open ones go on.

Clients (the gateway to its backends, the listener to the gateway): :class:`ClientTLS` makes the
channel credentials — the CA to verify the server, and the client's own certificate and key for
mutual TLS — and says when its files have changed, so that the caller replaces its channel (the
old one closes after the longest call).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

log = logging.getLogger(__name__)

# how often a client, or an SSL context's watcher, looks at its files' modification times
CLIENT_CHECK_SECONDS = 5.0


def _mtimes(paths: Sequence[str]) -> tuple[int, ...]:
    out = []
    for path in paths:
        try:
            out.append(os.stat(path).st_mtime_ns)
        except OSError:
            out.append(-1)
    return tuple(out)


def server_credentials(cert: str, key: str, client_ca: str | None = None
                       ) -> grpc.ServerCredentials:
    """TLS (mutual when ``client_ca`` is given), re-read when the files change."""
    paths = [p for p in (cert, key, client_ca) if p]

    def load() -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(Path(key).read_bytes(), Path(cert).read_bytes())],
            root_certificates=Path(client_ca).read_bytes() if client_ca else None)

    state = {"mtimes": _mtimes(paths)}
    initial = load()
    lock = threading.Lock()

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC before each handshake: a new configuration, or None to keep it."""
        mtimes = _mtimes(paths)
        with lock:
            if mtimes == state["mtimes"]:
                return None
            try:
                loaded = load()
            except (OSError, ValueError, RuntimeError) as e:
                log.error("TLS files changed but cannot be loaded (%s); keeping the current "
                          "certificate", type(e).__name__)
                return None
            state["mtimes"] = mtimes
        log.info("TLS certificate files changed: new connections use the new certificate")
        return loaded

    return grpc.dynamic_ssl_server_credentials(initial, fetch,
                                               require_client_authentication=bool(client_ca))


@dataclass
class ClientTLS:
    """What a client trusts (``ca``) and, for mutual TLS, who it is (``cert`` and ``key``)."""

    ca: str
    cert: str | None = None
    key: str | None = None
    _seen: tuple[int, ...] = field(default=(), init=False, repr=False)
    _checked: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")

    @property
    def paths(self) -> list[str]:
        return [p for p in (self.ca, self.cert, self.key) if p]

    def credentials(self) -> grpc.ChannelCredentials:
        self._seen = _mtimes(self.paths)
        self._checked = time.monotonic()
        return grpc.ssl_channel_credentials(
            root_certificates=Path(self.ca).read_bytes(),
            private_key=Path(self.key).read_bytes() if self.key else None,
            certificate_chain=Path(self.cert).read_bytes() if self.cert else None)

    def changed(self) -> bool:
        """Whether the files changed since :meth:`credentials` read them (looked at every
        :data:`CLIENT_CHECK_SECONDS` at most)."""
        now = time.monotonic()
        if now - self._checked < CLIENT_CHECK_SECONDS:
            return False
        self._checked = now
        return _mtimes(self.paths) != self._seen


def open_channel(address: str, options: Sequence[tuple[str, Any]], tls: ClientTLS | None
                 ) -> grpc.Channel:
    """A client channel: TLS with ``tls``'s credentials (read now), plaintext without."""
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, tls.credentials(), options=options)


def server_ssl_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """A TLS server context (Python's ``ssl``: the gateway's HTTPS, the listener's DICOM):
    TLS 1.2 or later, mutual when ``client_ca`` is given."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


def client_ssl_context(ca: str, cert: str | None = None, key: str | None = None
                       ) -> ssl.SSLContext:
    """A TLS client context verifying the server against ``ca``, presenting ``cert`` when
    given (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert and key:
        context.load_cert_chain(cert, key)
    return context


def watch_ssl_context(context: Callable[[], ssl.SSLContext | None], cert: str, key: str,
                      name: str) -> None:
    """Load ``cert`` and ``key`` again into the live context when their files change (a rotated
    Kubernetes secret): new handshakes get them, open connections go on. ``context`` returns
    the context once it exists (a server may create it after this is called)."""

    def watch() -> None:
        seen = _mtimes([cert, key])
        while True:
            time.sleep(CLIENT_CHECK_SECONDS)
            now = _mtimes([cert, key])
            live = context()
            if now == seen or -1 in now or live is None:
                continue
            try:
                live.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as e:
                log.error("%s: the certificate files changed but cannot be loaded (%s); "
                          "keeping the current one", name, type(e).__name__)
                continue
            seen = now
            log.info("%s: certificate files changed: new connections use the new certificate",
                     name)

    threading.Thread(target=watch, name=f"{name}-certificate", daemon=True).start()
