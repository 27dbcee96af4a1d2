"""Run the classifier service: config → models (sha256-checked, warmed up) → gRPC server.

    CERVIXAI_BUNDLE=BUNDLE python -m services.classifier
"""

from __future__ import annotations

import logging
import sys

from cervix.v1 import classifier_pb2_grpc
from cervixai.bundle import BundleError
from cervixai.service import configure_logging, create_server
from services.classifier.config import ClassifierConfig
from services.classifier.model import ClassifierModel
from services.classifier.server import SERVICE_NAME, ClassifierServicer

log = logging.getLogger("services.classifier")


def main() -> int:
    try:
        config = ClassifierConfig.from_env()
    except ValueError as e:
        print(f"classifier: configuration error: {e}", file=sys.stderr)
        return 2
    configure_logging("classifier", config.server.log_level)
    model = ClassifierModel(config.bundle, threads=config.threads)
    app = create_server(config.server, "classifier",
                        [(classifier_pb2_grpc.add_ClassifierServicer_to_server,
                          ClassifierServicer(model))], [SERVICE_NAME])
    app.install_signal_handlers()
    app.start()
    try:
        model.load()
        model.warm_up()
    except (BundleError, OSError, RuntimeError) as e:
        print(f"classifier: cannot load models from {config.bundle}: {e}", file=sys.stderr)
        app.stop(0)
        return 1
    app.set_serving(True)
    log.info("serving %d classifier models", len(model.models))
    app.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
