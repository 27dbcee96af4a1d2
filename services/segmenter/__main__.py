"""``python -m services.segmenter``: load the bundle's segmenter, warm it up, serve gRPC.

Environment: ``CERVIXAI_BUNDLE`` (required) and the ``CERVIXAI_SEGMENTER_*`` variables of
:class:`services.segmenter.config.SegmenterConfig`. A missing or bad bundle exits with status 2
and one line on stderr.
"""

from __future__ import annotations

import logging
import sys
import time

from cervix.v1 import segmenter_pb2_grpc
from cervixai.bundle import BundleError
from cervixai.service import configure_logging, create_server
from services.segmenter import metrics
from services.segmenter.config import SegmenterConfig
from services.segmenter.model import SegmenterModel
from services.segmenter.server import SERVICE_NAME, SegmenterServicer

log = logging.getLogger("services.segmenter")
LINGER_SECONDS = 0.5


def main() -> int:
    try:
        config = SegmenterConfig.from_env()
    except ValueError as e:
        print(f"segmenter: configuration error: {e}", file=sys.stderr)
        return 2
    configure_logging("segmenter", config.server.log_level)
    model = SegmenterModel(config.bundle, config.inference)
    app = create_server(config.server, "segmenter",
                        [(segmenter_pb2_grpc.add_SegmenterServicer_to_server,
                          SegmenterServicer(model))], [SERVICE_NAME])
    app.install_signal_handlers()
    app.start()  # health answers NOT_SERVING while the model loads
    try:
        model.load()
        model.warm_up()
    except BundleError as e:
        log.error("cannot load the segmenter: %s", e)
        app.stop(0)
        print(f"segmenter: bad model bundle: {e}", file=sys.stderr)
        return 2
    entry = model.entry
    metrics.MODEL_INFO.info({"name": entry.name, "version": entry.version,
                             "sha256": entry.files["model"].sha256, "provider": model.provider_})
    log.info("serving segmenter %s on %s with provider %s", entry.version, app.address,
             model.provider_, extra={"provider": model.provider_, "model_version": entry.version})
    app.set_serving(True)
    app.wait_for_termination()
    # The last replies may still sit in the socket's send buffer when the server reports that it
    # has stopped; exiting at once can reset the connection under them.
    time.sleep(LINGER_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
