"""Channels to the model services: created once, balanced per request, retried only on
UNAVAILABLE, every call with a deadline, every failure turned into a specific error.

Errors of a backend call::

    InvalidInput            the backend refused a field the caller sent (``stage``,
                            ``clinical.*``): the caller's to fix (400 / INVALID_ARGUMENT)
    InternalError           the backend refused a field the gateway built (``volume.*``,
                            ``image_features.*``, anything else): a gateway bug or a version
                            mismatch with the backend (500 / INTERNAL), logged at ERROR
    DependencyUnavailable   down, past its deadline, or any other failure (503 / UNAVAILABLE);
                            after one such failure the backend's circuit opens: calls fail at
                            once until a health check (one a second) says SERVING again
    Overloaded              the backend refused the call for lack of capacity
                            (RESOURCE_EXHAUSTED): 429 / RESOURCE_EXHAUSTED with a retry delay
    BackendStatus           a status the backend's contract gives the caller (the DICOM
                            listener's NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT), passed
                            through as it is: only for a backend built with ``passthrough``

The DICOM listener (``cervix.v1.Studies``) is a backend of the same kind, but optional: it is
:attr:`Backends.listener` (None when ``CERVIXAI_LISTENER_ADDRESS`` is unset), not one of
:attr:`Backends.all`, whose health is the gateway's readiness.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from cervix.v1 import (
    classifier_pb2,
    classifier_pb2_grpc,
    segmenter_pb2,
    segmenter_pb2_grpc,
    studies_pb2,
    studies_pb2_grpc,
    survival_pb2,
    survival_pb2_grpc,
)
from cervixai.errors import DependencyUnavailable, FieldViolation, InvalidInput, Overloaded
from cervixai.service import channel_options, violations_from_error
from cervixai.service.components import LISTENER, MODEL_SERVICES
from cervixai.service.server import LONGEST_CALL_SECONDS
from cervixai.service.tls import ClientTLS, open_channel
from gateway.config import BackendConfig, GatewayConfig
from gateway.metrics import BACKEND_ERRORS

log = logging.getLogger(__name__)

SERVICE_NAMES = {c.name: c.service for c in (*MODEL_SERVICES, LISTENER)}
# what the listener answers about the caller's request (studies.proto): the caller's to see
LISTENER_PASSTHROUGH = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                                  grpc.StatusCode.FAILED_PRECONDITION})

Reply = TypeVar("Reply", bound=Message)


class InternalError(RuntimeError):
    """A failure that is the gateway's, not the caller's: a backend refused what the gateway
    built, or answered something the gateway cannot use, or a result object could not be built
    (``backend`` is then ``results``). The message names the backend and the fields, never a
    clinical value or an identifier; callers get a generic INTERNAL."""

    def __init__(self, backend: str, message: str) -> None:
        self.backend = backend
        super().__init__(f"{backend}: {message}")


class BackendStatus(Exception):
    """A backend's answer that its contract makes the caller's (the listener's NOT_FOUND, ...):
    the code, the backend's message, its field violations, and the whole ``google.rpc.Status``
    when it sent one (the gRPC API passes it on as it is). The message is the caller's to see
    (it may quote the key the caller sent): never logged."""

    def __init__(self, backend: str, code: grpc.StatusCode, message: str,
                 violations: Sequence[FieldViolation] = (),
                 status: status_pb2.Status | None = None) -> None:
        self.backend = backend
        self.code = code
        self.message = message
        self.violations = tuple(violations)
        self.status = status
        super().__init__(f"{backend} answered {code.name}")


class ListenerNotConfigured(DependencyUnavailable):
    """A study call to a gateway started without ``CERVIXAI_LISTENER_ADDRESS`` (503 /
    UNAVAILABLE, HTTP code NOT_CONFIGURED)."""

    def __init__(self) -> None:
        super().__init__(LISTENER.name, f"no DICOM listener is configured "
                                        f"({LISTENER.address_variable} is unset)")


def is_caller_field(field: str) -> bool:
    """Whether a backend's violation names a field the caller sent (the stage, the clinical
    record's variables) rather than one the gateway built (the volume, the image features)."""
    return field in ("stage", "clinical") or field.startswith("clinical.")


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


class Breaker:
    """Fail fast while a backend is known not to answer.

    Opened by a call that missed its deadline or found the backend unavailable (a paused or
    overloaded process would otherwise hold every request for its whole deadline). While open,
    calls fail at once; one caller at a time, at most every ``probe_seconds``, asks the
    backend's health (``probe``, bounded by its own short timeout): SERVING closes it."""

    def __init__(self, probe: Callable[[], tuple[bool, str]], probe_seconds: float = 1.0
                 ) -> None:
        self._probe = probe
        self._probe_seconds = probe_seconds
        self._lock = threading.Lock()
        self._open_reason: str | None = None
        self._next_probe = 0.0
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_reason is not None

    def trip(self, reason: str) -> None:
        with self._lock:
            if self._open_reason is None:
                self._next_probe = time.monotonic() + self._probe_seconds
            self._open_reason = reason

    def check(self) -> str | None:
        """None when calls may go ahead; otherwise why not."""
        with self._lock:
            if self._open_reason is None:
                return None
            if self._probing or time.monotonic() < self._next_probe:
                return self._open_reason
            self._probing = True
        try:
            serving, status = self._probe()
        finally:
            with self._lock:
                self._probing = False
                self._next_probe = time.monotonic() + self._probe_seconds
        with self._lock:
            if serving:
                self._open_reason = None
                return None
            self._open_reason = f"health {status}"
            return self._open_reason


class Backend:
    """One backend service: its channel, stub, health stub and circuit breaker."""

    def __init__(self, config: BackendConfig, max_message_bytes: int,
                 tls: ClientTLS | None,
                 passthrough: frozenset[grpc.StatusCode] = frozenset()) -> None:
        self.config = config
        self.name = config.name
        self.passthrough = passthrough
        self._tls = tls
        self._stubs: dict[type, Any] = {}
        self._swap = threading.Lock()
        self._options: list[tuple[str, Any]] = [
            *channel_options(max_message_bytes),
            ("grpc.service_config", service_config(SERVICE_NAMES[config.name])),
            ("grpc.enable_retries", 1),
            # reconnect quickly once a restarted backend is back
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        self.channel = self._new_channel()
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.breaker = Breaker(lambda: self.ready(timeout=0.5))

    def _new_channel(self) -> grpc.Channel:
        return open_channel(self.config.address, self._options, self._tls)

    def _refresh(self) -> None:
        """A new channel when the TLS files changed (a rotated secret); the old one closes once
        its calls are done (after the longest call), so nothing in flight is cut."""
        if self._tls is None or not self._tls.changed():
            return
        with self._swap:
            old, self.channel = self.channel, self._new_channel()
            self.health = health_pb2_grpc.HealthStub(self.channel)
            self._stubs = {}
        log.info("%s: TLS files changed; new calls use a new channel", self.name)
        closer = threading.Timer(LONGEST_CALL_SECONDS, old.close)
        closer.daemon = True
        closer.start()

    def method(self, stub_type: type, name: str) -> Callable[..., Any]:
        """``stub_type(channel).name`` on the current channel, whichever channel that is."""
        def call(request: Message, timeout: float) -> Any:
            stubs = self._stubs
            stub = stubs.get(stub_type)
            if stub is None:
                stub = stubs[stub_type] = stub_type(self.channel)
            return getattr(stub, name)(request, timeout=timeout)
        return call

    def call(self, method: Callable[..., Reply], request: Message,
             deadline_seconds: float) -> Reply:
        """Call ``method`` with a deadline; map failures to the errors above, naming this
        backend."""
        timeout = min(self.config.timeout_seconds, deadline_seconds)
        if timeout <= 0:
            BACKEND_ERRORS.labels(self.name, "DEADLINE_EXCEEDED").inc()
            raise DependencyUnavailable(self.name, "no time left before the request deadline")
        self._refresh()
        refused = self.breaker.check()
        if refused is not None:
            BACKEND_ERRORS.labels(self.name, "CIRCUIT_OPEN").inc()
            raise DependencyUnavailable(self.name, f"not answering ({refused}); failing fast "
                                                   "until its health check says SERVING")
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as e:
            code = e.code()
            BACKEND_ERRORS.labels(self.name, code.name).inc()
            if code in self.passthrough:
                raise BackendStatus(self.name, code, e.details() or "",
                                    violations_from_error(e), rpc_status.from_call(e)) from e
            if code is grpc.StatusCode.INVALID_ARGUMENT:
                raise self._rejection(violations_from_error(e)) from e
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                self.breaker.trip(f"no answer within {timeout:.1f} s")
                raise DependencyUnavailable(self.name, f"no answer within {timeout:.1f} s") from e
            if code is grpc.StatusCode.UNAVAILABLE:
                self.breaker.trip("unavailable")
                raise DependencyUnavailable(self.name, "unavailable") from e
            if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise Overloaded(self.name, retry_after_seconds=1) from e
            log.error("%s failed with %s", self.name, code.name)
            raise DependencyUnavailable(self.name, f"failed with {code.name}") from e

    def _rejection(self, violations: Sequence[FieldViolation]) -> InvalidInput | InternalError:
        """The caller's error when every violation names a field the caller sent; otherwise the
        gateway's (one field it built is enough: the request cannot succeed as the gateway
        sends it, whatever the caller changes)."""
        built = [v for v in violations if not is_caller_field(v.field)]
        if violations and not built:
            return InvalidInput(violations)
        # the violations of gateway-built fields describe volumes and features, not the record
        detail = "; ".join(str(v) for v in built) or "no field violations given"
        log.error("%s rejected what the gateway built (a gateway bug or a version mismatch "
                  "with the backend): %s", self.name, detail)
        return InternalError(self.name, f"rejected fields the gateway built: "
                                        f"{', '.join(v.field for v in built) or '(none named)'}")

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
    """The three model services of a gateway, and the optional DICOM listener, with their
    stubs."""

    def __init__(self, config: GatewayConfig) -> None:
        tls = (ClientTLS(config.backend_tls_ca, config.backend_tls_cert, config.backend_tls_key)
               if config.backend_tls_ca else None)
        limit = config.grpc.max_message_bytes
        self.segmenter = Backend(config.segmenter, limit, tls)
        self.classifier = Backend(config.classifier, limit, tls)
        self.survival = Backend(config.survival, limit, tls)
        # the generated stubs carry no type hints: the typed methods below say what they return
        self._segment: Callable[..., segmenter_pb2.SegmentResponse] = self.segmenter.method(
            segmenter_pb2_grpc.SegmenterStub, "Segment")
        self._classify: Callable[..., classifier_pb2.ClassifyResponse] = self.classifier.method(
            classifier_pb2_grpc.ClassifierStub, "Predict")
        self._predict_survival: Callable[..., survival_pb2.SurvivalResponse] = (
            self.survival.method(survival_pb2_grpc.SurvivalStub, "Predict"))
        self.listener: Backend | None = None
        if config.listener is not None:
            self.listener = Backend(config.listener, limit, tls, LISTENER_PASSTHROUGH)
            self._put_clinical: Callable[..., studies_pb2.StudyStatus] = self.listener.method(
                studies_pb2_grpc.StudiesStub, "PutClinical")
            self._get_study: Callable[..., studies_pb2.StudyStatus] = self.listener.method(
                studies_pb2_grpc.StudiesStub, "GetStudy")
            self._store_instance: Callable[..., studies_pb2.StoreInstanceResult] = (
                self.listener.method(studies_pb2_grpc.StudiesStub, "StoreInstance"))

    def segment(self, request: segmenter_pb2.SegmentRequest,
                deadline_seconds: float) -> segmenter_pb2.SegmentResponse:
        """Segmenter.Segment within ``deadline_seconds`` (and the segmenter's own timeout)."""
        return self.segmenter.call(self._segment, request, deadline_seconds)

    def classify(self, request: classifier_pb2.ClassifyRequest,
                 deadline_seconds: float) -> classifier_pb2.ClassifyResponse:
        """Classifier.Predict within ``deadline_seconds`` (and the classifier's own timeout)."""
        return self.classifier.call(self._classify, request, deadline_seconds)

    def predict_survival(self, request: survival_pb2.SurvivalRequest,
                         deadline_seconds: float) -> survival_pb2.SurvivalResponse:
        """Survival.Predict within ``deadline_seconds`` (and the survival service's timeout)."""
        return self.survival.call(self._predict_survival, request, deadline_seconds)

    def put_clinical(self, request: studies_pb2.PutClinicalRequest,
                     deadline_seconds: float) -> studies_pb2.StudyStatus:
        """Studies.PutClinical on the DICOM listener (ListenerNotConfigured without one)."""
        return self._configured_listener().call(self._put_clinical, request, deadline_seconds)

    def get_study(self, request: studies_pb2.StudyRef,
                  deadline_seconds: float) -> studies_pb2.StudyStatus:
        """Studies.GetStudy on the DICOM listener (ListenerNotConfigured without one)."""
        return self._configured_listener().call(self._get_study, request, deadline_seconds)

    def store_instance(self, request: studies_pb2.StoreInstanceRequest,
                       deadline_seconds: float) -> studies_pb2.StoreInstanceResult:
        """Studies.StoreInstance on the DICOM listener (ListenerNotConfigured without one)."""
        return self._configured_listener().call(self._store_instance, request, deadline_seconds)

    def _configured_listener(self) -> Backend:
        if self.listener is None:
            raise ListenerNotConfigured()
        return self.listener

    @property
    def all(self) -> tuple[Backend, ...]:
        """The model services: every one must be SERVING for the gateway to be ready."""
        return (self.segmenter, self.classifier, self.survival)

    def close(self) -> None:
        for backend in (*self.all, *([self.listener] if self.listener else [])):
            backend.close()
