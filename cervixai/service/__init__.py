"""What every cervixai gRPC server shares: configuration, bootstrap, errors, metrics, logging."""

from cervixai.service.config import DEFAULT_MAX_MESSAGE_BYTES, ServerConfig
from cervixai.service.logs import configure_logging
from cervixai.service.server import (
    EXIT_BAD_BUNDLE,
    GrpcApp,
    Servable,
    channel_options,
    create_server,
    serve,
)
from cervixai.service.status import invalid_argument_status, violations_from_error

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "EXIT_BAD_BUNDLE",
    "GrpcApp",
    "Servable",
    "ServerConfig",
    "channel_options",
    "configure_logging",
    "create_server",
    "invalid_argument_status",
    "serve",
    "violations_from_error",
]
