"""``python -m services.survival [--check]``: serve the bundle's ``survival.rfs`` / ``survival.os``.

Environment: ``CERVIXAI_BUNDLE`` (required), ``CERVIXAI_SURVIVAL_THREADS`` (onnxruntime threads
per graph, default 1) and the server's ``CERVIXAI_SURVIVAL_*`` variables (ServerConfig).
"""

from __future__ import annotations

import sys

from cervix.v1 import survival_pb2_grpc
from cervixai.service import ModelService, OnnxSettings, run_model_service
from cervixai.service.components import SURVIVAL
from services.survival.model import SurvivalModel
from services.survival.server import SurvivalServicer

SERVICE = ModelService(SURVIVAL, OnnxSettings, SurvivalModel, SurvivalServicer,
                       survival_pb2_grpc.add_SurvivalServicer_to_server)

if __name__ == "__main__":
    sys.exit(run_model_service(SERVICE))
