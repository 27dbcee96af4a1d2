"""Run the gateway: ``python -m gateway`` (configuration from the environment, see config.py)."""

from __future__ import annotations

import logging
import signal
import sys

import uvicorn

from cervix.v1 import gateway_pb2_grpc
from cervixai.service import configure_logging, create_server
from cervixai.service.components import GATEWAY
from cervixai.service.model import set_build_info
from gateway.config import GatewayConfig
from gateway.grpc_api import GatewayServicer
from gateway.http_api import create_app
from gateway.service import Gateway

log = logging.getLogger("gateway")


def main() -> int:
    try:
        config = GatewayConfig.from_env()
    except ValueError as e:
        print(f"gateway: bad configuration: {e}", file=sys.stderr)
        return 2
    configure_logging("gateway", config.grpc.log_level)
    set_build_info(GATEWAY)
    gateway = Gateway(config)
    grpc_app = create_server(config.grpc, "gateway",
                             [(gateway_pb2_grpc.add_GatewayServicer_to_server,
                               GatewayServicer(gateway))], [GATEWAY.service])
    grpc_app.start()
    grpc_app.set_serving(True)
    server = uvicorn.Server(uvicorn.Config(
        create_app(gateway), host=config.http_host, port=config.http_port, log_config=None,
        access_log=False, timeout_graceful_shutdown=int(config.grpc.grace_seconds)))
    log.info("HTTP on http://%s:%d/, gRPC on %s; backends: %s", config.http_host,
             config.http_port, grpc_app.address,
             ", ".join(f"{b.name}={b.address}" for b in config.backends))
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


if __name__ == "__main__":
    sys.exit(main())
