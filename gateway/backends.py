"""Channels to the model services: created once, balanced per request, retried only on
UNAVAILABLE, every call with a deadline, every failure turned into a specific error."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cervix.v1 import (
    classifier_pb2_grpc,
    segmenter_pb2_grpc,
    survival_pb2_grpc,
)
from cervixai.errors import DependencyUnavailable, FieldViolation, InvalidInput
from cervixai.service import channel_options, violations_from_error
from cervixai.service.components import MODEL_SERVICES
from gateway.config import BackendConfig, GatewayConfig
from gateway.metrics import BACKEND_ERRORS

log = logging.getLogger(__name__)

SERVICE_NAMES = {c.name: c.service for c in MODEL_SERVICES}


def service_config(service: str) -> str:
    """Per-request round-robin over every address the name resolves to (one HTTP/2 connection
    would otherwise pin all traffic to one pod), and retries on UNAVAILABLE only, with backoff."""
    return json.dumps({
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [{
            "name": [{"service": service}],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }],
    })


class Backend:
    """One backend service: its channel, stub and health stub."""

    def __init__(self, config: BackendConfig, max_message_bytes: int,
                 credentials: grpc.ChannelCredentials | None) -> None:
        self.config = config
        self.name = config.name
        options: list[tuple[str, Any]] = [
            *channel_options(max_message_bytes),
            ("grpc.service_config", service_config(SERVICE_NAMES[config.name])),
            ("grpc.enable_retries", 1),
            # reconnect quickly once a restarted backend is back
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        if credentials is None:
            self.channel = grpc.insecure_channel(config.address, options=options)
        else:
            self.channel = grpc.secure_channel(config.address, credentials, options=options)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def call(self, method: Any, request: Any, deadline_seconds: float) -> Any:
        """Call ``method`` with a deadline; map failures to cervixai errors naming this backend.
        A backend's INVALID_ARGUMENT carries field violations that are the caller's to fix."""
        timeout = min(self.config.timeout_seconds, deadline_seconds)
        if timeout <= 0:
            BACKEND_ERRORS.labels(self.name, "DEADLINE_EXCEEDED").inc()
            raise DependencyUnavailable(self.name, "no time left before the request deadline")
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as e:
            code = e.code()
            BACKEND_ERRORS.labels(self.name, code.name).inc()
            if code is grpc.StatusCode.INVALID_ARGUMENT:
                violations = violations_from_error(e) or [
                    FieldViolation(self.name, e.details() or "rejected")]
                raise InvalidInput(violations) from e
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise DependencyUnavailable(self.name, f"no answer within {timeout:.1f} s") from e
            if code is grpc.StatusCode.UNAVAILABLE:
                raise DependencyUnavailable(self.name, e.details() or "unavailable") from e
            log.error("%s failed with %s", self.name, code.name)
            raise DependencyUnavailable(self.name, f"failed with {code.name}") from e

    def ready(self, timeout: float = 1.0) -> tuple[bool, str]:
        """Whether the backend reports SERVING, and a short reason when not."""
        try:
            reply = self.health.Check(health_pb2.HealthCheckRequest(
                service=SERVICE_NAMES[self.name]), timeout=timeout)
        except grpc.RpcError as e:
            return False, e.code().name
        serving = reply.status == health_pb2.HealthCheckResponse.SERVING
        return serving, "SERVING" if serving else health_pb2.HealthCheckResponse.ServingStatus.Name(
            reply.status)

    def close(self) -> None:
        self.channel.close()


class Backends:
    """The three backends of a gateway, with their stubs."""

    def __init__(self, config: GatewayConfig) -> None:
        credentials = None
        if config.backend_tls_ca:
            credentials = grpc.ssl_channel_credentials(Path(config.backend_tls_ca).read_bytes())
        limit = config.grpc.max_message_bytes
        self.segmenter = Backend(config.segmenter, limit, credentials)
        self.classifier = Backend(config.classifier, limit, credentials)
        self.survival = Backend(config.survival, limit, credentials)
        # the generated stubs carry no type hints
        self.segment: Any = segmenter_pb2_grpc.SegmenterStub(  # type: ignore[no-untyped-call]
            self.segmenter.channel).Segment
        self.classify: Any = classifier_pb2_grpc.ClassifierStub(  # type: ignore[no-untyped-call]
            self.classifier.channel).Predict
        self.predict_survival: Any = survival_pb2_grpc.SurvivalStub(  # type: ignore[no-untyped-call]
            self.survival.channel).Predict

    @property
    def all(self) -> tuple[Backend, ...]:
        return (self.segmenter, self.classifier, self.survival)

    def close(self) -> None:
        for backend in self.all:
            backend.close()
