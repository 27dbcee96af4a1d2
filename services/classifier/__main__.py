"""Run the classifier service: config → models (sha256-checked, warmed up) → gRPC server.

    CERVIXAI_BUNDLE=BUNDLE python -m services.classifier

A bad configuration or a bundle that cannot be served exits with status 2 and one line on stderr
(:func:`cervixai.service.serve`).
"""

from __future__ import annotations

import logging
import sys

from cervix.v1 import classifier_pb2_grpc
from cervixai.service import configure_logging, create_server, serve
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
    return serve(app, model, lambda: log.info("serving %d classifier models on %s",
                                              len(model.models), app.address))


if __name__ == "__main__":
    sys.exit(main())
