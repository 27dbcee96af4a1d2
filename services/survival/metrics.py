"""Prometheus metrics of the survival service (beside the shared cervixai_grpc_* ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ESTIMATES = Counter(
    "cervixai_survival_estimates_total",
    "Survival estimates returned, by outcome and whether the predicted median was reached.",
    ["outcome", "median_reached"],
)
INFERENCE_SECONDS = Histogram(
    "cervixai_survival_inference_seconds",
    "Time to compute one outcome's risk score and curve (onnxruntime plus the curve).",
    ["outcome"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)
MODEL_INFO = Gauge(
    "cervixai_survival_model_info",
    "The loaded model per outcome (value 1), labelled with its version and algorithm.",
    ["outcome", "version", "algorithm", "feature_set"],
)
