"""The HTTP API of studies from the PACS: a study's clinical record in, its status out, sent on to
the DICOM listener (``cervix.v1.Studies``; gateway/studies.py).

``PUT /v1/studies/{study_instance_uid}/clinical`` and ``PUT /v1/accessions/{accession_number}/
clinical`` take ``{"stage": "preoperative" | "postoperative", "clinical": {...}}`` — the stage
word and the clinical record object of ``POST /v1/assessments``, checked by the same code and
within the same JSON limits — and answer 202 with the study's status; ``GET /v1/studies/{uid}``
and ``GET /v1/accessions/{n}`` answer 200 with it. The status is ``cervix.v1.StudyStatus`` as the
assessment reply is written (proto field names, every field without presence, enums by value
name, int64 as decimal strings).

The key in the path identifies the patient's study: it is checked at the edge (DICOM UI / SH),
sent to the listener, and never logged, audited or used as a metric label (the metrics carry
the route's template).
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict
from starlette.convertors import Convertor, register_url_convertor

from cervix.v1 import studies_pb2
from cervixai.errors import DependencyUnavailable, FieldViolation, InvalidInput, Overloaded
from gateway import openapi
from gateway.backends import BackendStatus, ListenerNotConfigured
from gateway.headers import client_address
from gateway.http_json import (
    MAX_CLINICAL_BYTES,
    MAX_CLINICAL_DEPTH,
    bounded_json_object,
    error_response,
    invalid,
)
from gateway.request import (
    ACCESSION,
    MAX_ACCESSION_CHARS,
    MAX_UID_CHARS,
    STAGE_WORDS,
    STUDY,
    UID_PATTERN,
    ClinicalParsed,
    ClinicalRejection,
    new_request_id,
    parse_clinical_submission,
    stage_from_word,
    study_key_from_accession,
    study_key_from_uid,
)
from gateway.service import Gateway

log = logging.getLogger(__name__)

# the record's own limits, plus room for the stage and the object around it
MAX_BODY_BYTES = MAX_CLINICAL_BYTES + 1024
MAX_BODY_DEPTH = MAX_CLINICAL_DEPTH + 1
BODY_FIELDS = ("stage", "clinical")
# the path parameter of each kind of key, and the listener's field names for it
PATH_PARAMETER = {STUDY: "study_instance_uid", ACCESSION: "accession_number"}
_HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404,
                grpc.StatusCode.FAILED_PRECONDITION: 409}



class _KeyConvertor(Convertor[str]):
    """A path parameter that takes anything, slashes and control characters included (an
    AccessionNumber may hold ``/``; a bad key is the edge's 400 naming it, not a 404)."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("study_key", _KeyConvertor())

PARAMETERS = {
    STUDY: {"name": "study_instance_uid", "in": "path", "required": True,
            "description": "The study's StudyInstanceUID (DICOM VR UI: digits and dots, "
                           "components without leading zeros).",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_UID_CHARS,
                       "pattern": UID_PATTERN}},
    ACCESSION: {"name": "accession_number", "in": "path", "required": True,
                "description": "The study's AccessionNumber (DICOM VR SH: no backslash, no "
                               "control characters; URL-encoded; leading and trailing spaces "
                               "are ignored).",
                "schema": {"type": "string", "minLength": 1,
                           "maxLength": MAX_ACCESSION_CHARS}},
}
SUBMISSION_SCHEMA = {
    "type": "object", "title": "ClinicalSubmission",
    "description": "A study's clinical record, for the DICOM listener to assess the study with "
                   "once its images are in.",
    "required": ["stage", "clinical"], "additionalProperties": False,
    "properties": {
        "stage": {"type": "string", "enum": list(STAGE_WORDS)},
        "clinical": {"type": "object", "description":
                     "The clinical record: variable name → number or level (see GET "
                     "/v1/schema), as in POST /v1/assessments; the whole body at most "
                     f"{MAX_BODY_BYTES} bytes, the record nested at most {MAX_CLINICAL_DEPTH} "
                     "deep, finite numbers only.",
                     "additionalProperties": {"anyOf": [{"type": "number"},
                                                        {"type": "string"}]}},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: openapi.error_response("Invalid input: `error.field_violations` lists every problem "
                                "of the key, the body, the stage and the clinical record"),
    404: openapi.error_response("The DICOM listener knows nothing of the study (never "
                                "received, or its status was purged): code NOT_FOUND"),
    409: openapi.error_response("The listener refuses it in the study's state, e.g. a record "
                                "sent after the assessment started: code FAILED_PRECONDITION"),
    429: openapi.error_response("The listener is at capacity: retry after the `Retry-After` "
                                "header's seconds"),
    500: openapi.error_response("Internal error; `error.request_id` finds the log line"),
    503: openapi.error_response("No DICOM listener is configured (code NOT_CONFIGURED), or it "
                                "is down or past its deadline (code UNAVAILABLE, "
                                "`error.backend` is `listener`)"),
}


def schemas() -> dict[str, openapi.Schema]:
    """The component schemas the routes refer to: StudyStatus (from the proto) and the body."""
    return {**openapi.message_schemas(studies_pb2.StudyStatus.DESCRIPTOR),  # type: ignore[arg-type]
            "ClinicalSubmission": SUBMISSION_SCHEMA}


def study_json(study: studies_pb2.StudyStatus) -> dict[str, Any]:
    """The status as the HTTP API writes protos (the assessment reply's conventions)."""
    return MessageToDict(study, preserving_proto_field_name=True,
                         always_print_fields_with_no_presence=True)


def add_study_routes(app: FastAPI, gateway: Gateway) -> None:
    """The four study routes, on ``app``."""
    trusted = gateway.config.trusted_proxies

    def status_reply(kind: str, summary: str, code: int,
                     body: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"status_code": code, "response_class": JSONResponse, "summary": summary,
                "openapi_extra": {**(body or {}), "parameters": [PARAMETERS[kind]]},
                "responses": {code: openapi.json_content(
                    "StudyStatus", "The study's status (cervix.v1.StudyStatus as JSON with "
                                   "proto field names; int64 values as decimal strings)"),
                              **_ERRORS}}

    submission = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ClinicalSubmission"}}}}}

    async def put_clinical(request: Request, kind: str) -> JSONResponse:
        request_id = new_request_id()
        client = client_address(request, trusted)
        audited = False  # Studies.put_clinical writes the audit line once it has the request
        try:
            body = await _read_body(request)
            parsed = await run_in_threadpool(
                _parse_submission, kind, request.path_params[PATH_PARAMETER[kind]],
                request.headers.get("content-type"), body)
            audited = True
            study = await run_in_threadpool(
                gateway.studies.put_clinical, parsed, api="http", client=client,
                deadline_seconds=None, request_id=request_id)
            return JSONResponse(study_json(study), status_code=202)
        except Exception as e:
            if not audited:  # a bug before the request was parsed: audited as INTERNAL
                gateway.studies.record_internal(request_id, api="http", client=client, key=kind)
            return error_reply(e, request_id)

    async def get_study(request: Request, kind: str) -> JSONResponse:
        request_id = new_request_id()   # not audited: it names the log line of a failure
        text = request.path_params[PATH_PARAMETER[kind]]
        key = (study_key_from_uid(text, PATH_PARAMETER[kind]) if kind == STUDY
               else study_key_from_accession(text, PATH_PARAMETER[kind]))
        try:
            study = await run_in_threadpool(gateway.studies.get_study, key,
                                            deadline_seconds=None)
            return JSONResponse(study_json(study))
        except Exception as e:
            return error_reply(e, request_id)

    @app.put("/v1/studies/{study_instance_uid:study_key}/clinical",
             operation_id="put_study_clinical",
             **status_reply(STUDY, "A study's clinical record, by StudyInstanceUID, for the "
                                   "DICOM listener", 202, submission))
    async def put_study_clinical(request: Request) -> JSONResponse:
        return await put_clinical(request, STUDY)

    @app.put("/v1/accessions/{accession_number:study_key}/clinical",
             operation_id="put_accession_clinical",
             **status_reply(ACCESSION, "A study's clinical record, by AccessionNumber, for "
                                       "the DICOM listener", 202, submission))
    async def put_accession_clinical(request: Request) -> JSONResponse:
        return await put_clinical(request, ACCESSION)

    @app.get("/v1/studies/{study_instance_uid:study_key}", operation_id="get_study",
             **status_reply(STUDY, "Where a study from the PACS stands, by StudyInstanceUID",
                            200))
    async def get_study_by_uid(request: Request) -> JSONResponse:
        return await get_study(request, STUDY)

    @app.get("/v1/accessions/{accession_number:study_key}",
             operation_id="get_accession_study",
             **status_reply(ACCESSION, "Where a study from the PACS stands, by "
                                       "AccessionNumber", 200))
    async def get_study_by_accession(request: Request) -> JSONResponse:
        return await get_study(request, ACCESSION)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is larger than :data:`MAX_BODY_BYTES` (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_submission(kind: str, key_text: str, content_type: str | None,
                      body: bytes | None) -> ClinicalParsed:
    """Key, body, stage and record, every problem at once (off the event loop: a hostile body
    costs CPU)."""
    field = PATH_PARAMETER[kind]
    key = (study_key_from_uid(key_text, field) if kind == STUDY
           else study_key_from_accession(key_text, field))
    document = _body_document(content_type, body)
    if isinstance(document, FieldViolation):
        return ClinicalRejection(
            tuple(v for v in (key, document) if isinstance(v, FieldViolation)), kind, None)
    unknown = [name for name in document if name not in BODY_FIELDS]
    stage_word = document.get("stage")
    stage = (stage_from_word(stage_word) if stage_word is None or isinstance(stage_word, str)
             else FieldViolation("stage", "must be the string preoperative or postoperative"))
    clinical = document.get("clinical")
    parsed = parse_clinical_submission(
        key, stage,
        clinical if isinstance(clinical, dict) else FieldViolation(
            "clinical", "must be a JSON object of variables; the field is missing"
            if clinical is None else "must be a JSON object of variables"),
        kind)
    if not unknown:
        return parsed
    extra = FieldViolation("body", f"unknown field(s) "
                                   f"{', '.join(repr(n[:40]) for n in unknown[:5])}"
                                   f"{f' and {len(unknown) - 5} more' if len(unknown) > 5 else ''}"
                                   f"; the body has {' and '.join(BODY_FIELDS)}")
    if isinstance(parsed, ClinicalRejection):
        return ClinicalRejection((*parsed.violations, extra), kind, parsed.stage)
    return ClinicalRejection((extra,), kind, parsed.stage)


def _body_document(content_type: str | None, body: bytes | None
                   ) -> dict[str, Any] | FieldViolation:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return FieldViolation("body", f"must be application/json, got "
                                      f"{media_type[:60] or 'no Content-Type'}")
    if body is None:
        return FieldViolation("body", f"is larger than the limit of {MAX_BODY_BYTES} bytes "
                                      f"(the clinical record's {MAX_CLINICAL_BYTES // 1024} KiB "
                                      f"and 1 KiB for the rest)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return FieldViolation("body", "must be UTF-8")
    return bounded_json_object(text, "body", max_bytes=MAX_BODY_BYTES,
                               max_depth=MAX_BODY_DEPTH,
                               depth_note=f"the record's {MAX_CLINICAL_DEPTH} inside the body",
                               what='a JSON object {"stage": ..., "clinical": {...}}')


def error_reply(e: Exception, request_id: str) -> JSONResponse:
    """The HTTP answer to a failed study call, STOW-RS's included (the listener's own answers
    passed on)."""
    if isinstance(e, InvalidInput):
        return invalid(e, request_id)
    if isinstance(e, BackendStatus):
        status = _HTTP_STATUS.get(e.code, 503)
        if e.code is grpc.StatusCode.INVALID_ARGUMENT:
            violations = [_http_field(v) for v in e.violations] or [
                FieldViolation("body", e.message or "refused by the DICOM listener")]
            return invalid(InvalidInput(violations), request_id)
        return error_response(status, e.code.name, f"listener: {e.message or e.code.name}",
                              request_id=request_id)
    if isinstance(e, ListenerNotConfigured):
        return error_response(503, "NOT_CONFIGURED", str(e), backend=e.dependency,
                              request_id=request_id)
    if isinstance(e, DependencyUnavailable):
        return error_response(503, "UNAVAILABLE", str(e), backend=e.dependency,
                              request_id=request_id)
    if isinstance(e, Overloaded):
        shed = error_response(429, "RESOURCE_EXHAUSTED", str(e), request_id=request_id)
        shed.headers["Retry-After"] = str(e.retry_after_seconds)
        return shed
    log.error("study request %s failed: %s", request_id, type(e).__name__, exc_info=e)
    return error_response(500, "INTERNAL", "internal error; the gateway's log has the details "
                          "under this request id", request_id=request_id)


def _http_field(violation: FieldViolation) -> FieldViolation:
    """A listener's violation named after the HTTP request (the key is the path parameter)."""
    name = violation.field.removeprefix("study.")
    return FieldViolation(name, violation.description)
