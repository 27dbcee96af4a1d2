"""Run the survival service: ``CERVIXAI_BUNDLE=BUNDLE python -m services.survival``.

Wiring only: config → server (health NOT_SERVING) → model load, sha256 check, warm-up → SERVING.
A bad configuration or a bundle that cannot be served exits with status 2 and one line on stderr
(:func:`cervixai.service.serve`).
"""

from __future__ import annotations

import logging
import sys

from cervix.v1 import survival_pb2_grpc
from cervixai.service import configure_logging, create_server, serve
from services.survival.config import SurvivalConfig
from services.survival.metrics import MODEL_INFO
from services.survival.model import SurvivalModel
from services.survival.server import SERVICE_NAME, SurvivalServicer

log = logging.getLogger("services.survival")


def main() -> int:
    try:
        config = SurvivalConfig.from_env()
    except ValueError as e:
        print(f"survival: configuration error: {e}", file=sys.stderr)
        return 2
    configure_logging("survival", config.server.log_level)
    model = SurvivalModel(config.bundle, threads=config.threads)
    app = create_server(config.server, "survival",
                        [(survival_pb2_grpc.add_SurvivalServicer_to_server,
                          SurvivalServicer(model))], [SERVICE_NAME])

    def ready() -> None:
        for outcome, loaded in model.outcomes.items():
            MODEL_INFO.labels(outcome, loaded.entry.version, loaded.entry.algorithm,
                              loaded.feature_set).set(1)
        log.info("serving %s on %s", ", ".join(sorted(model.outcomes)), app.address)

    return serve(app, model, ready)


if __name__ == "__main__":
    sys.exit(main())
