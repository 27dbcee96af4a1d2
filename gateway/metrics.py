"""The gateway's Prometheus metrics, defined once per process (base units, bounded labels)."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

from cervixai.service.metrics import LATENCY_BUCKETS

HTTP_REQUESTS = Counter("cervixai_gateway_http_requests_total",
                        "HTTP requests, by route template and status code.", ["route", "code"])
HTTP_LATENCY = Histogram("cervixai_gateway_http_request_duration_seconds",
                         "Time to answer one HTTP request, by route template.", ["route"],
                         buckets=LATENCY_BUCKETS)
ASSESSMENTS = Counter("cervixai_gateway_assessments_total",
                      "Assessments, by API (http, grpc), stage and outcome code.",
                      ["api", "stage", "code"])
STAGE_LATENCY = Histogram("cervixai_gateway_stage_duration_seconds",
                          "Time spent in each pipeline stage of an assessment.",
                          ["stage"], buckets=LATENCY_BUCKETS)
UPLOAD_BYTES = Histogram("cervixai_gateway_upload_bytes", "DICOM bytes per assessment.",
                         buckets=(1e5, 1e6, 5e6, 1e7, 2e7, 5e7, 1e8))
BACKEND_ERRORS = Counter("cervixai_gateway_backend_errors_total",
                         "Failed backend calls, by backend and gRPC code.", ["backend", "code"])
IN_FLIGHT = Gauge("cervixai_gateway_in_flight_assessments", "Assessments being processed now.")
MODEL_INFO = Gauge("cervixai_gateway_model_info",
                   "1 for each model the backends last reported, by bundle entry and version.",
                   ["model", "version"])
_reported: dict[str, str] = {}
_reported_lock = threading.Lock()


def report_models(versions: dict[str, str]) -> None:
    """Record the model versions of one reply; a model's previous version series is removed."""
    with _reported_lock:
        for model, version in versions.items():
            previous = _reported.get(model)
            if previous == version:
                continue
            if previous is not None:
                MODEL_INFO.remove(model, previous)
            MODEL_INFO.labels(model, version).set(1)
            _reported[model] = version
