"""Metrics of the classifier service (beside the shared cervixai_grpc_* ones), defined once."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INFERENCE_SECONDS = Histogram(
    "cervixai_classifier_inference_seconds",
    "onnxruntime time of one task's prediction, by task.",
    ["task"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
PREDICTIONS = Counter(
    "cervixai_classifier_predictions_total",
    "Task predictions returned, by task and predicted label.",
    ["task", "label"],
)
MODEL_INFO = Gauge(
    "cervixai_classifier_model_info",
    "1 for each loaded model: task, algorithm, feature set and version (sha256 prefix).",
    ["task", "algorithm", "feature_set", "version"],
)
