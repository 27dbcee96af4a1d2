"""The segmenter's own Prometheus metrics (requests, codes and in-flight requests are counted by
the shared ``cervixai_grpc_*`` metrics of :mod:`cervixai.service.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, Info

INFERENCE_SECONDS = Histogram(
    "cervixai_segmenter_inference_seconds",
    "Time of one network inference (padding included, decoding excluded), by provider.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
)
EMPTY_PREDICTIONS = Counter(
    "cervixai_segmenter_empty_predictions_total",
    "Segmentations that found no lesion voxel.",
)
MODEL_INFO = Info(
    "cervixai_segmenter_model",
    "The loaded segmentation model: name, version, sha256, and the execution provider it runs on.",
)
