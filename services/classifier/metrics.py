"""The classifier's own Prometheus metric. Requests, codes and latency are the shared
``cervixai_grpc_*`` metrics, inference time and the loaded models the shared
``cervixai_model_inference_seconds`` and ``cervixai_model_info``
(:mod:`cervixai.service.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

PREDICTIONS = Counter(
    "cervixai_classifier_predictions_total",
    "Task predictions returned, by task and predicted label.",
    ["task", "label"],
)
