"""The gateway's application object: pipeline, audit and metrics around one assessment, shared
by the gRPC servicer and the HTTP API so both behave the same."""

from __future__ import annotations

import logging
import time
import uuid

from cervix.v1 import common_pb2
from cervixai.errors import DependencyUnavailable, InvalidInput
from gateway.audit import AuditLog
from gateway.backends import Backends
from gateway.config import GatewayConfig
from gateway.metrics import ASSESSMENTS, IN_FLIGHT, UPLOAD_BYTES
from gateway.pipeline import Assessment, AssessmentInput, Pipeline

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.backends = Backends(config)
        self.pipeline = Pipeline(self.backends, config.max_upload_bytes)
        self.audit = AuditLog(config.audit_log)

    def close(self) -> None:
        self.pipeline.close()
        self.backends.close()
        self.audit.close()

    def assess(self, request: AssessmentInput, *, api: str, client: str,
               deadline_seconds: float | None) -> Assessment:
        """Run and account for one assessment (metrics, audit line, log line)."""
        request_id = uuid.uuid4().hex
        budget = self.config.request_timeout_seconds
        if deadline_seconds is not None:
            budget = min(budget, deadline_seconds - 0.05)
        stage = common_pb2.Stage.Name(request.stage) if request.stage in (0, 1, 2) else "INVALID"
        stage = stage.removeprefix("STAGE_").lower()
        upload = sum(len(f.data) for f in request.files) + len(request.zip_data)
        UPLOAD_BYTES.observe(upload)
        IN_FLIGHT.inc()
        started = time.monotonic()
        status, code, result = "error", "INTERNAL", None
        try:
            result = self.pipeline.assess(request, budget, request_id)
            status, code = "ok", "OK"
            return result
        except InvalidInput as e:
            status, code = "rejected", "INVALID_ARGUMENT"
            e.request_id = request_id  # type: ignore[attr-defined]
            raise
        except DependencyUnavailable as e:
            status, code = "unavailable", "UNAVAILABLE"
            e.request_id = request_id  # type: ignore[attr-defined]
            raise
        finally:
            IN_FLIGHT.dec()
            ASSESSMENTS.labels(api, stage, code).inc()
            durations = dict(result.timings) if result else {
                "total": time.monotonic() - started}
            self.audit.record(request_id=request_id, api=api, client=client, stage=stage,
                              status=status, code=code, upload_bytes=upload,
                              durations=durations, response=result.response if result else None)
            log.info("assessment %s %s in %.2f s", request_id, status,
                     time.monotonic() - started)
