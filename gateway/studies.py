"""The gateway's side of ``cervix.v1.Studies``: a study's clinical record and its status, sent on
to the DICOM listener, for the HTTP API and the gRPC API alike.

Both APIs decode their request into the pieces :func:`gateway.request.parse_clinical_submission`
checks (the key against its DICOM value representation, the stage and the clinical record by
the same code as an assessment's) and call :class:`Studies`, which forwards the valid ones to
the listener and writes the audit line of every clinical record, whatever its outcome. The
listener is optional: without ``CERVIXAI_LISTENER_ADDRESS`` every call fails with
:class:`gateway.backends.ListenerNotConfigured` (503 / UNAVAILABLE); a listener that is down
opens its circuit like any backend's (503 at once until its health says SERVING).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cervix.v1 import studies_pb2
from cervixai.errors import FieldViolation, InvalidInput
from gateway.audit import AuditLog, outcome_of
from gateway.backends import Backends
from gateway.request import ClinicalParsed, ClinicalRejection, StudyKey

log = logging.getLogger(__name__)


class Studies:
    """Forwards study calls to the listener within the request's deadline, and audits each
    clinical record (never its key's value, never a clinical value)."""

    def __init__(self, backends: Backends, audit: AuditLog,
                 request_timeout_seconds: float) -> None:
        self._backends = backends
        self._audit = audit
        self._request_timeout = request_timeout_seconds

    @property
    def configured(self) -> bool:
        return self._backends.listener is not None

    def _budget(self, deadline_seconds: float | None) -> float:
        if deadline_seconds is None:
            return self._request_timeout
        return min(self._request_timeout, deadline_seconds - 0.05)

    def put_clinical(self, parsed: ClinicalParsed, *, api: str, client: str,
                     deadline_seconds: float | None, request_id: str
                     ) -> studies_pb2.StudyStatus:
        """Studies.PutClinical on the listener. Raises InvalidInput (the rejection's problems),
        BackendStatus (the listener's own answer about the request), DependencyUnavailable
        (no listener, or one that does not answer) or Overloaded; audited in every case."""
        started = time.monotonic()
        status, code, study = "error", "INTERNAL", None
        if isinstance(parsed, ClinicalRejection):
            key, stage = parsed.key_kind, parsed.stage.value if parsed.stage else "invalid"
        else:
            key, stage = parsed.key.kind, parsed.stage.value
        try:
            if isinstance(parsed, ClinicalRejection):
                raise InvalidInput(parsed.violations)
            study = self._backends.put_clinical(parsed.to_proto(),
                                                self._budget(deadline_seconds))
            status, code = "ok", "OK"
            return study
        except BaseException as e:
            status, code = outcome_of(e)
            raise
        finally:
            elapsed = time.monotonic() - started
            self._audit.record_clinical(request_id=request_id, api=api, client=client, key=key,
                                        stage=stage, status=status, code=code,
                                        duration_seconds=elapsed, study=study)
            log.info("clinical record %s (%s key) %s in %.2f s", request_id, key, status,
                     elapsed)

    def record_internal(self, request_id: str, *, api: str, client: str, key: str) -> None:
        """Audit a clinical record that failed before it reached :meth:`put_clinical` (a bug
        at the API's edge) as INTERNAL."""
        self._audit.record_clinical(request_id=request_id, api=api, client=client, key=key,
                                    stage="invalid", status="error", code="INTERNAL",
                                    duration_seconds=0.0, study=None)

    def store_instance(self, dicom: bytes, study_uid: str | None, *,
                       deadline_seconds: float | None) -> studies_pb2.StoreInstanceResult:
        """Studies.StoreInstance on the listener: one PS3.10 instance, for STOW-RS. A refusal
        of the instance is the result's (``stored`` false); the errors are
        :meth:`put_clinical`'s. Audited by the caller, once per request."""
        return self._backends.store_instance(
            studies_pb2.StoreInstanceRequest(dicom=dicom, study_instance_uid=study_uid or ""),
            self._budget(deadline_seconds))

    def record_stow(self, **entry: Any) -> None:
        """The audit line of one STOW-RS request (AuditLog.record_stow's fields)."""
        self._audit.record_stow(**entry)

    def get_study(self, key: StudyKey | FieldViolation, *,
                  deadline_seconds: float | None) -> studies_pb2.StudyStatus:
        """Studies.GetStudy on the listener; the same errors as :meth:`put_clinical`."""
        if isinstance(key, FieldViolation):
            raise InvalidInput(key)
        return self._backends.get_study(key.to_proto(), self._budget(deadline_seconds))
