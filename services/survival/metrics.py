"""The survival service's own Prometheus metric. Requests, codes and latency are the shared
``cervixai_grpc_*`` metrics, inference time (risk score and curve) and the loaded models the shared
``cervixai_model_inference_seconds`` and ``cervixai_model_info``
(:mod:`cervixai.service.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

ESTIMATES = Counter(
    "cervixai_survival_estimates_total",
    "Survival estimates returned, by outcome and whether the predicted median was reached.",
    ["outcome", "median_reached"],
)
