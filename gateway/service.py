"""The gateway's application object: pipeline, audit and metrics around one assessment, shared
by the gRPC servicer and the HTTP API so both behave the same."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from cervixai.errors import InvalidInput, Overloaded
from gateway.audit import AuditLog, outcome_of
from gateway.backends import Backends
from gateway.config import GatewayConfig
from gateway.metrics import ASSESSMENTS, IN_FLIGHT, UPLOAD_BYTES
from gateway.pipeline import Assessment, Pipeline
from gateway.request import AssessmentRequest, Parsed, Rejection, new_request_id
from gateway.studies import Studies

log = logging.getLogger(__name__)
T = TypeVar("T")


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.backends = Backends(config)
        self.pipeline = Pipeline(self.backends, config.max_upload_bytes, config.model_max_slices,
                                 max_ingestions=config.max_ingestions)
        self.audit = AuditLog(config.audit_log)
        # studies from the PACS: clinical records and status, sent on to the DICOM listener
        self.studies = Studies(self.backends, self.audit, config.request_timeout_seconds)
        # load shedding: past this many assessments at once, refuse at once (429 /
        # RESOURCE_EXHAUSTED) instead of queueing work that would miss its deadline anyway
        self._slots = threading.BoundedSemaphore(config.max_in_flight)

    def close(self) -> None:
        self.pipeline.close()
        self.backends.close()
        self.audit.close()

    def assess(self, request: Parsed, *, api: str, client: str, deadline_seconds: float | None,
               request_id: str | None = None) -> Assessment:
        """Run and account for one assessment (metrics, audit line, log line).

        A :class:`Rejection` is answered with its problems plus those of its DICOM (InvalidInput);
        otherwise InvalidInput, DependencyUnavailable or any other exception (INTERNAL) pass
        through after being counted under their code.
        """
        return self.assess_into(request, lambda result: result, api=api, client=client,
                                deadline_seconds=deadline_seconds, request_id=request_id)

    def assess_into(self, request: Parsed, render: Callable[[Assessment], T], *, api: str,
                    client: str, deadline_seconds: float | None,
                    request_id: str | None = None) -> T:
        """:meth:`assess`, and ``render`` of its result (the API's reply) inside the same
        accounting: a reply that cannot be built is an INTERNAL assessment, not an OK one."""
        request_id = request_id or new_request_id()
        budget = self.config.request_timeout_seconds
        if deadline_seconds is not None:
            budget = min(budget, deadline_seconds - 0.05)
        stage = request.stage.value if request.stage is not None else "invalid"
        upload = (request.upload.size_bytes if isinstance(request, AssessmentRequest)
                  else request.upload_bytes)
        UPLOAD_BYTES.observe(upload)
        started = time.monotonic()
        status, code, result = "error", "INTERNAL", None
        admitted = self._slots.acquire(blocking=False)
        if admitted:
            IN_FLIGHT.inc()
        try:
            if not admitted:
                raise Overloaded("the gateway", retry_after_seconds=1)
            if isinstance(request, Rejection):
                raise self._refusal(request)
            result = self.pipeline.assess(request, budget, request_id)
            reply = render(result)
            status, code = "ok", "OK"
            return reply
        except BaseException as e:
            status, code = outcome_of(e)
            raise
        finally:
            if admitted:
                IN_FLIGHT.dec()
                self._slots.release()
            ASSESSMENTS.labels(api, stage, code).inc()
            durations = dict(result.timings) if result else {
                "total": time.monotonic() - started}
            self.audit.record(request_id=request_id, api=api, client=client, stage=stage,
                              status=status, code=code, upload_bytes=upload,
                              durations=durations, response=result.response if result else None)
            log.info("assessment %s %s in %.2f s", request_id, status,
                     time.monotonic() - started)

    def record_internal(self, request_id: str, *, api: str, client: str) -> None:
        """Account for a request that failed before it reached :meth:`assess` (a bug at the
        API's edge): counted and audited as INTERNAL like any other."""
        ASSESSMENTS.labels(api, "invalid", "INTERNAL").inc()
        self.audit.record(request_id=request_id, api=api, client=client, stage="invalid",
                          status="error", code="INTERNAL", upload_bytes=0, durations={},
                          response=None)

    def _refusal(self, rejection: Rejection) -> InvalidInput:
        """Every problem at once: the edge's, and those of the DICOM when its shape was right."""
        dicom = (self.pipeline.dicom_violations(rejection.upload)
                 if rejection.upload is not None else [])
        return InvalidInput([*rejection.violations, *dicom])
