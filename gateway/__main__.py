"""Run the gateway: ``python -m gateway`` (configuration from the environment, see config.py)."""

from __future__ import annotations

import logging
import signal
import sys

import uvicorn

from cervix.v1 import gateway_pb2_grpc, studies_pb2_grpc
from cervixai.service import configure_logging, create_server
from cervixai.service.components import GATEWAY, LISTENER
from cervixai.service.model import set_build_info
from cervixai.service.tls import watch_ssl_context
from gateway.auth import Authenticator
from gateway.authz import GrpcAuthorization
from gateway.config import GatewayConfig
from gateway.grpc_api import GatewayServicer
from gateway.http_api import create_app
from gateway.service import Gateway
from gateway.studies_api import StudiesServicer

log = logging.getLogger("gateway")


def main() -> int:
    try:
        config = GatewayConfig.from_env()
    except ValueError as e:
        print(f"gateway: bad configuration: {e}", file=sys.stderr)
        return 2
    refusal = exposure_refusal(config)
    if refusal:
        print(f"gateway: {refusal}", file=sys.stderr)
        return 2
    configure_logging("gateway", config.grpc.log_level)
    set_build_info(GATEWAY)
    authenticator = None
    if config.auth.enabled:
        try:
            authenticator = Authenticator(config.auth)
        except (OSError, ValueError) as e:  # an unreadable or malformed JWKS file
            print(f"gateway: bad configuration: cannot read the JWKS: {e}", file=sys.stderr)
            return 2
        log.info("authentication: bearer tokens of %s for %s (keys from %s)",
                 config.auth.issuer, config.auth.audience,
                 config.auth.jwks_url or config.auth.jwks_file)
        authenticator.keys.load()
    else:
        log.warning("authentication is OFF (CERVIXAI_GATEWAY_AUTH=%s): every caller that "
                    "reaches HTTP %s or gRPC %s may assess and read; docs/security.md",
                    config.auth.mode or "unset", config.http_host, config.grpc.host)
    gateway = Gateway(config)
    grpc_app = create_server(config.grpc, "gateway",
                             [(gateway_pb2_grpc.add_GatewayServicer_to_server,
                               GatewayServicer(gateway)),
                              (studies_pb2_grpc.add_StudiesServicer_to_server,
                               StudiesServicer(gateway))],
                             # the gateway serves Studies itself (forwarding to the listener)
                             [GATEWAY.service, LISTENER.service],
                             extra_interceptors=[GrpcAuthorization(authenticator)]
                             if authenticator else [])
    grpc_app.start()
    grpc_app.set_serving(True)
    server = uvicorn.Server(uvicorn.Config(
        create_app(gateway, authenticator), host=config.http_host, port=config.http_port,
        log_config=None, access_log=False, server_header=False,
        timeout_graceful_shutdown=int(config.grpc.grace_seconds),
        ssl_certfile=config.http_tls_cert, ssl_keyfile=config.http_tls_key))
    if config.http_tls_cert and config.http_tls_key:
        watch_ssl_context(lambda: server.config.ssl if server.config.loaded else None,
                          config.http_tls_cert, config.http_tls_key, "HTTPS")
    scheme = "https" if config.http_tls_cert else "http"
    log.info("HTTP on %s://%s:%d/, gRPC on %s; backends: %s", scheme, config.http_host,
             config.http_port, grpc_app.address,
             ", ".join(f"{b.name}={b.address}" for b in (
                 *config.backends, *([config.listener] if config.listener else []))))
    # uvicorn captures SIGTERM/SIGINT while it runs and re-raises them to the handler that was
    # in place before; this one lets the process go on to drain gRPC and exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, frame: log.info(
            "stopping on %s", signal.Signals(received).name))
    try:
        server.run()  # returns on SIGTERM / SIGINT after draining HTTP requests
    finally:
        grpc_app.stop()
        gateway.close()
    return 0


def exposure_refusal(config: GatewayConfig) -> str | None:
    """Why the gateway must not start: it would listen beyond loopback without authentication
    and nobody said so (``CERVIXAI_GATEWAY_AUTH`` unset); None when it may."""
    if config.auth.mode is not None or config.loopback_only:
        return None
    return (f"refusing to listen on HTTP {config.http_host} / gRPC {config.grpc.host} without "
            f"authentication: set CERVIXAI_GATEWAY_AUTH=jwt (with its issuer, audience and "
            f"JWKS; docs/security.md), or CERVIXAI_GATEWAY_AUTH=none to accept every caller")


if __name__ == "__main__":
    sys.exit(main())
