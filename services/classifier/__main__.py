"""``python -m services.classifier [--check]``: serve the bundle's ``classifier.<task>`` models.

Environment: ``CERVIXAI_BUNDLE`` (required), ``CERVIXAI_CLASSIFIER_THREADS`` (onnxruntime threads
per model, default 1) and the server's ``CERVIXAI_CLASSIFIER_*`` variables (ServerConfig).
"""

from __future__ import annotations

import sys

from cervix.v1 import classifier_pb2_grpc
from cervixai.service import ModelService, OnnxSettings, run_model_service
from cervixai.service.components import CLASSIFIER
from services.classifier.model import ClassifierModel
from services.classifier.server import ClassifierServicer

SERVICE = ModelService(CLASSIFIER, OnnxSettings, ClassifierModel, ClassifierServicer,
                       classifier_pb2_grpc.add_ClassifierServicer_to_server)

if __name__ == "__main__":
    sys.exit(run_model_service(SERVICE))
