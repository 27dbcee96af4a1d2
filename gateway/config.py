"""Gateway configuration, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cervixai.grid import MODEL_MAX_SLICES
from cervixai.service.components import (
    CLASSIFIER,
    GATEWAY,
    LISTENER,
    SEGMENTER,
    SURVIVAL,
    Component,
)
from cervixai.service.config import ServerConfig, integer_variable, number_variable
from gateway.auth import AuthConfig, is_loopback

MB = 1000 * 1000


@dataclass(frozen=True)
class BackendConfig:
    """Where one backend listens and how long the gateway waits for it."""

    name: str            # segmenter, classifier, survival, listener
    address: str         # host:port, or dns:///name:port for a headless Service
    timeout_seconds: float


@dataclass(frozen=True)
class GatewayConfig:
    """Environment (defaults in brackets):

    ``CERVIXAI_GATEWAY_HTTP_HOST`` [127.0.0.1], ``CERVIXAI_GATEWAY_HTTP_PORT`` [8080],
    the gRPC server's ``CERVIXAI_GATEWAY_*`` variables (see ServerConfig; PORT [50050]),
    ``CERVIXAI_SEGMENTER_ADDRESS`` [127.0.0.1:50051], ``CERVIXAI_CLASSIFIER_ADDRESS``
    [127.0.0.1:50052], ``CERVIXAI_SURVIVAL_ADDRESS`` [127.0.0.1:50053],
    ``CERVIXAI_GATEWAY_SEGMENT_TIMEOUT_SECONDS`` [60], ``..._CLASSIFY_TIMEOUT_SECONDS`` [10],
    ``..._SURVIVAL_TIMEOUT_SECONDS`` [10], ``..._REQUEST_TIMEOUT_SECONDS`` [120] (whole
    request, HTTP), ``..._MAX_IN_FLIGHT`` [16] (assessments at once; more get 429 /
    RESOURCE_EXHAUSTED), ``..._MAX_INGESTIONS`` [2] (DICOM readings at once: each may decode up
    to the per-series limit, so this bounds the gateway's memory; the others wait their turn),
    ``..._ALLOWED_ORIGINS`` [none] (comma-separated browser origins
    allowed besides the gateway's own: CORS, cross-origin writes), ``..._TRUSTED_PROXIES``
    [none] (comma-separated peer addresses whose ``X-Forwarded-For`` names the client in the
    audit log, e.g. the Ingress controller's),
    ``..._MAX_UPLOAD_BYTES`` [50000000] (an upload; a STOW-RS instance),
    ``..._MAX_STOW_BYTES`` [1073741824] (one STOW-RS request's body), ``..._AUDIT_LOG`` [stderr],
    ``CERVIXAI_LISTENER_ADDRESS`` [unset: no DICOM listener; ``/v1/studies``,
    ``/v1/accessions``, ``/dicom-web/`` and gRPC ``cervix.v1.Studies`` answer 503 /
    UNAVAILABLE] and
    ``CERVIXAI_GATEWAY_LISTENER_TIMEOUT_SECONDS`` [5] (one call to the listener), and
    ``CERVIXAI_GATEWAY_HTTP_TLS_CERT`` / ``..._HTTP_TLS_KEY`` (HTTPS on the HTTP listener; the
    files are re-read when they change),
    ``CERVIXAI_BACKEND_TLS_CA`` (PEM; TLS to the backends and the listener when set),
    ``CERVIXAI_BACKEND_TLS_CERT`` / ``..._KEY`` (the gateway's client certificate and key for
    mutual TLS; with the CA),
    ``CERVIXAI_SEGMENTER_MAX_SLICES`` [64] (the segmenter's depth limit, the same variable the
    segmenter reads: the gateway refuses or sets aside deeper series at ingestion),
    ``CERVIXAI_BUNDLE`` (optional: the bundle whose manifest and model card ``GET /v1/models``
    serves), and authentication: ``CERVIXAI_GATEWAY_AUTH`` [unset: none, on loopback only]
    ``jwt`` or ``none``, ``..._AUTH_ISSUER``, ``..._AUTH_AUDIENCE``, ``..._AUTH_JWKS_URL`` or
    ``..._AUTH_JWKS_FILE``, ``..._AUTH_ALGORITHMS`` [RS256,ES256,PS256],
    ``..._AUTH_LEEWAY_SECONDS`` [30], ``..._AUTH_JWKS_CACHE_SECONDS`` [300],
    ``..._AUTH_JWKS_REFRESH_SECONDS`` [60], ``..._AUTH_JWKS_TIMEOUT_SECONDS`` [5] (see
    :class:`gateway.auth.AuthConfig` and docs/security.md).
    """

    grpc: ServerConfig
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_tls_cert: str | None = None   # HTTPS on the HTTP listener (re-read when it changes)
    http_tls_key: str | None = None
    segmenter: BackendConfig = BackendConfig("segmenter", SEGMENTER.default_address, 60.0)
    classifier: BackendConfig = BackendConfig("classifier", CLASSIFIER.default_address, 10.0)
    survival: BackendConfig = BackendConfig("survival", SURVIVAL.default_address, 10.0)
    # the DICOM listener (cervix.v1.Studies), optional: its health never gates readiness
    listener: BackendConfig | None = None
    request_timeout_seconds: float = 120.0
    max_in_flight: int = 16      # assessments at once; more are refused with 429
    max_ingestions: int = 2      # DICOM readings (decoding) at once; more wait
    allowed_origins: tuple[str, ...] = ()   # browser origins besides the gateway's own
    trusted_proxies: tuple[str, ...] = ()   # peers whose X-Forwarded-For the audit believes
    max_upload_bytes: int = 50 * MB
    max_stow_bytes: int = 1024 * MB   # one STOW-RS request's body (each instance: max_upload_bytes)
    audit_log: str | None = None
    backend_tls_ca: str | None = None
    backend_tls_cert: str | None = None   # mutual TLS: the gateway's client certificate
    backend_tls_key: str | None = None
    bundle: str | None = None    # read only for GET /v1/models (manifest and model card)
    model_max_slices: int = MODEL_MAX_SLICES
    auth: AuthConfig = field(default_factory=AuthConfig)

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"max in-flight assessments must be at least 1, got "
                             f"{self.max_in_flight}")
        if (self.http_tls_cert is None) != (self.http_tls_key is None):
            raise ValueError("CERVIXAI_GATEWAY_HTTP_TLS_CERT and _HTTP_TLS_KEY go together")
        if (self.backend_tls_cert is None) != (self.backend_tls_key is None):
            raise ValueError("CERVIXAI_BACKEND_TLS_CERT and CERVIXAI_BACKEND_TLS_KEY go together")
        if self.backend_tls_cert and not self.backend_tls_ca:
            raise ValueError("a client certificate (CERVIXAI_BACKEND_TLS_CERT) needs "
                             "CERVIXAI_BACKEND_TLS_CA")
        if self.max_ingestions < 1:
            raise ValueError(f"max concurrent ingestions must be at least 1, got "
                             f"{self.max_ingestions}")
        if self.max_upload_bytes < 1:
            raise ValueError(f"max upload must be positive, got {self.max_upload_bytes}")
        if self.max_stow_bytes < self.max_upload_bytes:
            raise ValueError(f"the STOW-RS limit ({self.max_stow_bytes}) must be at least the "
                             f"upload limit ({self.max_upload_bytes}), an instance's")
        if self.max_upload_bytes + MB > self.grpc.max_message_bytes:
            raise ValueError(f"the gRPC message limit ({self.grpc.max_message_bytes} bytes) must "
                             f"exceed the upload limit ({self.max_upload_bytes}) by 1 MB")
        for backend in (*self.backends, *([self.listener] if self.listener else [])):
            if backend.timeout_seconds <= 0:
                raise ValueError(f"{backend.name} timeout must be positive")

    @property
    def loopback_only(self) -> bool:
        """Whether both listeners (HTTP and gRPC) are reachable from this machine only."""
        return is_loopback(self.http_host) and is_loopback(self.grpc.host)

    @property
    def backends(self) -> tuple[BackendConfig, ...]:
        """The model services every assessment needs (the listener is not one of them)."""
        return (self.segmenter, self.classifier, self.survival)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        env = os.environ if env is None else env
        p = GATEWAY.prefix

        def number(name: str, default: float) -> float:
            return number_variable(env, f"{p}_{name}", default)

        def backend(component: Component, timeout_variable: str,
                    default_timeout: float) -> BackendConfig:
            address = env.get(component.address_variable) or component.default_address
            return BackendConfig(component.name, address,
                                 number(timeout_variable, default_timeout))

        listener_address = (env.get(LISTENER.address_variable) or "").strip()
        max_upload = int(number("MAX_UPLOAD_BYTES", 50 * MB))
        grpc_config = ServerConfig.from_env(
            p, env, port=GATEWAY.port, max_message_bytes=max(64 * 1024 * 1024, max_upload + 2 * MB))
        return cls(
            grpc=grpc_config,
            http_host=env.get(f"{p}_HTTP_HOST") or "127.0.0.1",
            http_port=int(number("HTTP_PORT", 8080)),
            http_tls_cert=env.get(f"{p}_HTTP_TLS_CERT") or None,
            http_tls_key=env.get(f"{p}_HTTP_TLS_KEY") or None,
            segmenter=backend(SEGMENTER, "SEGMENT_TIMEOUT_SECONDS", 60.0),
            classifier=backend(CLASSIFIER, "CLASSIFY_TIMEOUT_SECONDS", 10.0),
            survival=backend(SURVIVAL, "SURVIVAL_TIMEOUT_SECONDS", 10.0),
            listener=BackendConfig(LISTENER.name, listener_address,
                                   number("LISTENER_TIMEOUT_SECONDS", 5.0))
            if listener_address else None,
            request_timeout_seconds=number("REQUEST_TIMEOUT_SECONDS", 120.0),
            max_in_flight=integer_variable(env, f"{p}_MAX_IN_FLIGHT", 16),
            max_ingestions=integer_variable(env, f"{p}_MAX_INGESTIONS", 2),
            allowed_origins=_words(env.get(f"{p}_ALLOWED_ORIGINS")),
            trusted_proxies=_words(env.get(f"{p}_TRUSTED_PROXIES")),
            max_upload_bytes=max_upload,
            max_stow_bytes=int(number("MAX_STOW_BYTES", 1024 * MB)),
            audit_log=env.get(f"{p}_AUDIT_LOG") or None,
            backend_tls_ca=env.get("CERVIXAI_BACKEND_TLS_CA") or None,
            backend_tls_cert=env.get("CERVIXAI_BACKEND_TLS_CERT") or None,
            backend_tls_key=env.get("CERVIXAI_BACKEND_TLS_KEY") or None,
            bundle=env.get("CERVIXAI_BUNDLE") or None,
            model_max_slices=integer_variable(env, f"{SEGMENTER.prefix}_MAX_SLICES",
                                              MODEL_MAX_SLICES),
            auth=AuthConfig.from_env(env),
        )


def _words(value: str | None) -> tuple[str, ...]:
    """A comma-separated variable as its non-empty items."""
    return tuple(w.strip() for w in (value or "").split(",") if w.strip())
