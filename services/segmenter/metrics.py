"""The segmenter's own Prometheus metric. Requests, codes and latency are the shared
``cervixai_grpc_*`` metrics, inference time and the loaded model the shared
``cervixai_model_inference_seconds`` and ``cervixai_model_info``
(:mod:`cervixai.service.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

EMPTY_PREDICTIONS = Counter(
    "cervixai_segmenter_empty_predictions_total",
    "Segmentations that found no lesion voxel.",
)
