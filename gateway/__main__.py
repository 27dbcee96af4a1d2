"""Run the gateway: ``python -m gateway`` (configuration from the environment, see config.py)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from cervix.v1 import gateway_pb2_grpc
from cervixai.service import configure_logging, create_server
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
    gateway = Gateway(config)
    grpc_app = create_server(config.grpc, "gateway",
                             [(gateway_pb2_grpc.add_GatewayServicer_to_server,
                               GatewayServicer(gateway))], ["cervix.v1.Gateway"])
    grpc_app.start()
    grpc_app.set_serving(True)
    server = uvicorn.Server(uvicorn.Config(
        create_app(gateway), host=config.http_host, port=config.http_port, log_config=None,
        access_log=False, timeout_graceful_shutdown=int(config.grpc.grace_seconds)))
    log.info("HTTP on http://%s:%d/, gRPC on %s; backends: %s", config.http_host,
             config.http_port, grpc_app.address,
             ", ".join(f"{b.name}={b.address}" for b in config.backends))
    try:
        server.run()  # returns on SIGTERM / SIGINT after draining HTTP requests
    finally:
        grpc_app.stop()
        gateway.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
