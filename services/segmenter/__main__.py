"""``python -m services.segmenter``: load the bundle's segmenter, warm it up, serve gRPC.

Environment: ``CERVIXAI_BUNDLE`` (required) and the ``CERVIXAI_SEGMENTER_*`` variables of
:class:`services.segmenter.config.SegmenterConfig`. A bad configuration or a bundle that cannot be
served exits with status 2 and one line on stderr (:func:`cervixai.service.serve`).
"""

from __future__ import annotations

import logging
import sys

from cervix.v1 import segmenter_pb2_grpc
from cervixai.service import configure_logging, create_server, serve
from services.segmenter import metrics
from services.segmenter.config import SegmenterConfig
from services.segmenter.model import SegmenterModel
from services.segmenter.server import SERVICE_NAME, SegmenterServicer

log = logging.getLogger("services.segmenter")


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

    def ready() -> None:
        entry = model.entry
        metrics.MODEL_INFO.info({"name": entry.name, "version": entry.version,
                                 "sha256": entry.files["model"].sha256,
                                 "provider": model.provider_})
        log.info("serving segmenter %s on %s with provider %s", entry.version, app.address,
                 model.provider_, extra={"provider": model.provider_,
                                         "model_version": entry.version})

    return serve(app, model, ready)


if __name__ == "__main__":
    sys.exit(main())
