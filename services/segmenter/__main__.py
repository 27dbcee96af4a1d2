"""``python -m services.segmenter [--check]``: serve the bundle's segmenter over gRPC.

Environment: ``CERVIXAI_BUNDLE`` (required), the segmenter's ``CERVIXAI_SEGMENTER_*`` settings
(:class:`services.segmenter.config.InferenceSettings`) and the server's (ServerConfig).
"""

from __future__ import annotations

import sys

from cervix.v1 import segmenter_pb2_grpc
from cervixai.service import ModelService, run_model_service
from cervixai.service.components import SEGMENTER
from services.segmenter.config import InferenceSettings
from services.segmenter.model import SegmenterModel
from services.segmenter.server import SegmenterServicer

SERVICE = ModelService(SEGMENTER, InferenceSettings, SegmenterModel, SegmenterServicer,
                       segmenter_pb2_grpc.add_SegmenterServicer_to_server)

if __name__ == "__main__":
    sys.exit(run_model_service(SERVICE))
