"""Run the survival service: ``CERVIXAI_BUNDLE=BUNDLE python -m services.survival``.

Wiring only: config → server (health NOT_SERVING) → model load, sha256 check, warm-up → SERVING.
A missing or bad bundle ends the process with status 1 and a one-line error.
"""

from __future__ import annotations

import logging
import sys

from cervix.v1 import survival_pb2_grpc
from cervixai.bundle import BundleError
from cervixai.service import configure_logging, create_server
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
    app.start()
    app.install_signal_handlers()
    try:
        model.load()
        model.warm_up()
    except (BundleError, ValueError, OSError) as e:
        log.error("cannot serve: %s", e)
        app.stop(0)
        return 1
    for outcome, loaded in model.outcomes.items():
        MODEL_INFO.labels(outcome, loaded.entry.version, loaded.entry.algorithm,
                          loaded.feature_set).set(1)
    app.set_serving(True)
    log.info("serving %s on %s", ", ".join(sorted(model.outcomes)), app.address)
    app.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
