"""Prometheus metrics shared by every cervixai gRPC server, defined once per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets from 1 ms to 2 min: covers a health check and a CPU segmentation alike.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0, 120.0)

GRPC_REQUESTS = Counter(
    "cervixai_grpc_requests_total",
    "gRPC requests handled, by service, method and status code.",
    ["service", "method", "code"],
)
GRPC_LATENCY = Histogram(
    "cervixai_grpc_request_duration_seconds",
    "Time to handle one gRPC request, by service and method.",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
GRPC_IN_FLIGHT = Gauge(
    "cervixai_grpc_in_flight_requests",
    "gRPC requests being handled now, by service.",
    ["service"],
)
BUILD_INFO = Gauge(
    "cervixai_build_info",
    "1, labelled with this process's component and its cervixai, Python and onnxruntime versions.",
    ["service", "version", "python_version", "onnxruntime_version"],
)
# Set once per served bundle entry, when the model has been loaded and warmed up (the moment
# health turns SERVING): a backend without this series has not finished starting.
MODEL_INFO = Gauge(
    "cervixai_model_info",
    "1 for each model a service serves: its bundle entry, version (sha256 prefix), full sha256, "
    "algorithm, feature set and the onnxruntime execution provider it really runs on.",
    ["service", "model", "version", "sha256", "algorithm", "feature_set", "provider"],
)
MODEL_INFERENCE = Histogram(
    "cervixai_model_inference_seconds",
    "Time of one model inference (onnxruntime and the model's own pre- and post-processing, "
    "request decoding excluded), by service and bundle entry.",
    ["service", "model"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
             1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
)
# Shared by the classifier and survival services: the feature label is one of the radiomics
# feature names (unknown names are refused before the check), the model label a manifest entry.
IMAGE_FEATURES_OUT_OF_RANGE = Counter(
    "cervixai_image_features_out_of_range_total",
    "Image features of a request outside the model's training range (0.5th-99.5th percentile), "
    "by service, model and feature.",
    ["service", "model", "feature"],
)
