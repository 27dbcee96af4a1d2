"""The gateway's gRPC servicer of ``cervix.v1.Studies``: PutClinical, GetStudy and StoreInstance
(the twin of STOW-RS, one instance a call), checked here as the HTTP twins check them and sent on
to the DICOM listener (gateway/studies.py).

The key is checked against its DICOM value representation and the clinical record exactly as
``Gateway/Assess`` checks its ``ClinicalRecord`` (gateway/request.py); a problem is
INVALID_ARGUMENT with every field violation (``study.study_instance_uid``, ``stage``,
``clinical.<variable>``). The listener's own answers about the request (NOT_FOUND,
FAILED_PRECONDITION, INVALID_ARGUMENT) are passed on as it sent them, details included; no
listener configured, or one down or past its deadline, is UNAVAILABLE naming it (the error
interceptor maps DependencyUnavailable).
"""

from __future__ import annotations

import time
from typing import NoReturn

import grpc
from grpc_status import rpc_status

from cervix.v1 import studies_pb2, studies_pb2_grpc
from cervixai.errors import FieldViolation
from gateway.audit import outcome_of
from gateway.backends import BackendStatus
from gateway.request import (
    INVALID_KEY,
    KEY_KIND_OF_FIELD,
    new_request_id,
    parse_clinical_submission,
    stage_from_proto,
    study_key_from_proto,
    study_key_from_uid,
)
from gateway.service import Gateway


class StudiesServicer(studies_pb2_grpc.StudiesServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def PutClinical(self, request: studies_pb2.PutClinicalRequest,
                    context: grpc.ServicerContext) -> studies_pb2.StudyStatus:
        parsed = parse_clinical_submission(
            study_key_from_proto(request.study, "study."), stage_from_proto(request.stage),
            request.clinical,
            KEY_KIND_OF_FIELD.get(request.study.WhichOneof("key") or "", INVALID_KEY))
        try:
            return self._gateway.studies.put_clinical(
                parsed, api="grpc", client=context.peer(),
                deadline_seconds=context.time_remaining(), request_id=new_request_id())
        except BackendStatus as e:
            _pass_on(e, context)

    def GetStudy(self, request: studies_pb2.StudyRef,
                 context: grpc.ServicerContext) -> studies_pb2.StudyStatus:
        try:
            return self._gateway.studies.get_study(study_key_from_proto(request, ""),
                                                   deadline_seconds=context.time_remaining())
        except BackendStatus as e:
            _pass_on(e, context)

    def StoreInstance(self, request: studies_pb2.StoreInstanceRequest,
                      context: grpc.ServicerContext) -> studies_pb2.StoreInstanceResult:
        request_id, started = new_request_id(), time.monotonic()
        problem = self._instance_problem(request)
        status, code = ("rejected", "INVALID_ARGUMENT") if problem else ("error", "INTERNAL")
        result = None
        try:
            if problem:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
            result = self._gateway.studies.store_instance(
                request.dicom, request.study_instance_uid or None,
                deadline_seconds=context.time_remaining())
            status, code = ("ok", "OK") if result.stored else ("refused", "FAILED_PRECONDITION")
            return result
        except BackendStatus as e:
            status, code = outcome_of(e)
            _pass_on(e, context)
        except BaseException as e:
            if not problem:
                status, code = outcome_of(e)
            raise
        finally:
            stored = int(result is not None and result.stored)
            self._gateway.studies.record_stow(
                request_id=request_id, api="grpc", client=context.peer(),
                study_in_path=bool(request.study_instance_uid), status=status, code=code,
                stored=stored, failed=int(result is not None) - stored, size=len(request.dicom),
                duration_seconds=time.monotonic() - started)

    def _instance_problem(self, request: studies_pb2.StoreInstanceRequest) -> str | None:
        """Why the request cannot be sent on, as INVALID_ARGUMENT's message, or None."""
        limit = self._gateway.config.max_upload_bytes
        if not request.dicom:
            return "dicom: the instance is empty"
        if len(request.dicom) > limit:
            return f"dicom: the instance passes the limit of {limit} bytes"
        if request.study_instance_uid:
            key = study_key_from_uid(request.study_instance_uid, "study_instance_uid")
            if isinstance(key, FieldViolation):
                return f"{key.field}: {key.description}"
        return None

def _pass_on(error: BackendStatus, context: grpc.ServicerContext) -> NoReturn:
    """Abort with the listener's status as it sent it (its google.rpc.Status when it had
    details, its code and message otherwise)."""
    if error.status is not None:
        context.abort_with_status(rpc_status.to_status(error.status))
    context.abort(error.code, error.message)
    raise AssertionError("context.abort returns only by raising")  # for the type checker
