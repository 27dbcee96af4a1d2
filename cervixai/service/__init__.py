"""What every cervixai gRPC server shares: configuration, bootstrap, errors, metrics, logging,
and the model-service contract (:mod:`cervixai.service.model`)."""

from cervixai.service.config import DEFAULT_MAX_MESSAGE_BYTES, ServerConfig
from cervixai.service.logs import configure_logging
from cervixai.service.model import (
    BundleModel,
    ModelService,
    ModelServiceConfig,
    OnnxSettings,
    ServedEntry,
    run_model_service,
)
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
    "BundleModel",
    "GrpcApp",
    "ModelService",
    "ModelServiceConfig",
    "OnnxSettings",
    "Servable",
    "ServedEntry",
    "ServerConfig",
    "channel_options",
    "configure_logging",
    "create_server",
    "invalid_argument_status",
    "run_model_service",
    "serve",
    "violations_from_error",
]
