"""STOW-RS (DICOMweb Store Transaction, PS3.18 10.5) on the gateway's HTTP port: a PACS, a
modality's DICOMweb client or a router sends a study's instances by HTTP instead of C-STORE.

``POST /dicom-web/studies`` and ``POST /dicom-web/studies/{StudyInstanceUID}`` take
``multipart/related; type="application/dicom"``: each part one PS3.10 instance. The body is
parsed as it streams in (python-multipart) and each part, once complete, is sent to the DICOM
listener (``Studies/StoreInstance``), which takes it exactly as a C-STORE: checked (MR or
Enhanced MR, a transfer syntax ingestion decodes without loss, the request's study), written to
its spool and fsync'd, recorded; the study then goes on as one pushed by the PACS (its clinical
record by ``PUT /v1/studies/{uid}/clinical``, its SEG and SR sent to the destination). At most
one part is held in memory: a part over ``CERVIXAI_GATEWAY_MAX_UPLOAD_BYTES`` is skipped and
failed (0xA700), a body over ``..._MAX_STOW_BYTES`` is read no further.

The answer is the Store Instances Response Module as ``application/dicom+json``: Referenced SOP
Sequence (0008,1199) for the stored instances, Failed SOP Sequence (0008,1198) with each Failure
Reason (0008,1197) for the others (the codes of listener/intake.py; a part whose UIDs could not
be read has none); 200 when every instance was stored, 202 when some were, 409 when none was
(PS3.18 10.5.3). No Retrieve URL: the gateway serves no WADO-RS. A ``Warning`` header (299) says
in words why instances failed. 415 for a body that is not ``multipart/related`` of
``application/dicom`` parts, 406 for an ``Accept`` without JSON, 400 for a body without a part
or a malformed one (with nothing stored), 413 over the body limit; without a listener 503.

The UIDs are read by the listener and returned in this answer only: never logged, audited or
counted (the audit line has the counts: gateway/audit.py).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydicom.dataset import Dataset
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from cervixai.errors import DependencyUnavailable, FieldViolation, InvalidInput, Overloaded
from gateway import openapi
from gateway.audit import outcome_of
from gateway.backends import BackendStatus, ListenerNotConfigured
from gateway.headers import client_address
from gateway.http_json import error_response
from gateway.request import MAX_UID_CHARS, UID_PATTERN, new_request_id, study_key_from_uid
from gateway.service import Gateway
from gateway.studies_http import error_reply

log = logging.getLogger(__name__)

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
_ACCEPTABLE = frozenset({DICOM_JSON, "application/json", "application/*", "*/*"})
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
# the Failure Reason of a part the listener could not take because it did not answer
_UNAVAILABLE = "the DICOM listener became unavailable"
# the audit's status and code of an answered request, by its HTTP status
_AUDIT_OUTCOME = {200: ("ok", "OK"), 202: ("partial", "OK"),
                  409: ("refused", "FAILED_PRECONDITION")}


@dataclass
class Part:
    """One part of the body as it is parsed: its headers, and its bytes up to the limit."""

    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    size: int = 0
    over_limit: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", DICOM).split(";")[0].strip().lower()


@dataclass(frozen=True)
class Stored:
    """What became of one part."""

    stored: bool
    reason: int = 0
    comment: str = ""
    sop_class_uid: str = ""
    sop_instance_uid: str = ""


class _Parts:
    """The callbacks python-multipart calls while it parses: complete parts are queued in
    :attr:`ready`, the part being read keeps at most ``max_part_bytes``."""

    def __init__(self, max_part_bytes: int) -> None:
        self.max_part_bytes = max_part_bytes
        self.ready: list[Part] = []
        self._part = Part()
        self._name = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._begin, "on_header_field": self._header_name,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self._part = Part()

    def _header_name(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._part.headers[self._name.decode("latin-1").strip().lower()] = (
            self._value.decode("latin-1").strip())
        self._name, self._value = bytearray(), bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        part.size += end - start
        if part.size > self.max_part_bytes:
            part.over_limit = True
            part.data = bytearray()   # the rest is skipped; the part fails
        elif not part.over_limit:
            part.data += data[start:end]

    def _end(self) -> None:
        self.ready.append(self._part)
        self._part = Part()


class StowRejected(Exception):
    """A request refused as a whole before any instance was stored."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/related`` body of ``application/dicom`` parts."""
    media_type, options = parse_options_header(content_type or "")
    if media_type != b"multipart/related":
        raise StowRejected(415, "UNSUPPORTED_MEDIA_TYPE",
                           f'STOW-RS takes multipart/related; type="{DICOM}", got '
                           f"{media_type.decode('latin-1')[:60] or 'no Content-Type'}")
    part_type = options.get(b"type", DICOM.encode()).decode("latin-1").strip().lower()
    if part_type != DICOM:
        raise StowRejected(415, "UNSUPPORTED_MEDIA_TYPE",
                           f"only {DICOM} parts (PS3.10 instances) are accepted, not "
                           f"{part_type[:60]} (metadata and bulk data)")
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise StowRejected(400, "INVALID_ARGUMENT", "the Content-Type has no boundary")
    return boundary


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    return any(item.split(";")[0].strip().lower() in _ACCEPTABLE for item in accept.split(","))


def response_dataset(outcomes: list[Stored]) -> Dataset:
    """The Store Instances Response Module (PS3.18 10.5.3) of ``outcomes``."""
    answer = Dataset()
    failed, stored = [], []
    for outcome in outcomes:
        item = Dataset()
        if outcome.sop_class_uid:
            item.ReferencedSOPClassUID = outcome.sop_class_uid
        if outcome.sop_instance_uid:
            item.ReferencedSOPInstanceUID = outcome.sop_instance_uid
        if outcome.stored:
            stored.append(item)
        else:
            item.FailureReason = outcome.reason
            failed.append(item)
    if failed:
        answer.FailedSOPSequence = failed
    if stored:
        answer.ReferencedSOPSequence = stored
    return answer


def _warning(outcomes: list[Stored], note: str | None) -> str | None:
    """A ``Warning: 299`` value saying why instances failed (and what was not read)."""
    reasons = Counter(o.comment or f"failure reason 0x{o.reason:04X}" for o in outcomes
                      if not o.stored)
    said = [f"{n} refused: {text}" for text, n in reasons.most_common(5)]
    if note:
        said.append(note)
    if not said:
        return None
    text = "; ".join(said).replace('"', "'").replace("\\", "/")
    return f'299 cervixai "{"".join(c for c in text if c.isprintable())[:900]}"'


class StowRequest:
    """One STOW-RS request: the body read part by part, each part stored before the next is
    read."""

    def __init__(self, gateway: Gateway, study_uid: str | None) -> None:
        self.gateway = gateway
        self.study_uid = study_uid
        self.config = gateway.config
        self.outcomes: list[Stored] = []
        self.size = 0
        self.note: str | None = None

    async def run(self, request: Request) -> None:
        """Parse and store; sets :attr:`note` when the body was not read to its end. Raises
        StowRejected (nothing stored yet), DependencyUnavailable or Overloaded (the listener,
        with nothing stored yet)."""
        boundary = _boundary(request.headers.get("content-type"))
        declared = request.headers.get("content-length") or ""
        if declared.isdigit() and int(declared) > self.config.max_stow_bytes:
            raise StowRejected(413, "PAYLOAD_TOO_LARGE", self._too_large())
        parts = _Parts(self.config.max_upload_bytes)
        parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
        try:
            async for chunk in request.stream():
                self.size += len(chunk)
                if self.size > self.config.max_stow_bytes:
                    self._stop(413, "PAYLOAD_TOO_LARGE", self._too_large())
                    return
                parser.write(chunk)
                if not await self._store_ready(parts):
                    return
            parser.finalize()
        except MultipartParseError as e:
            self._stop(400, "INVALID_ARGUMENT", f"the multipart body is malformed ({e})")
            return
        if not await self._store_ready(parts):
            return
        if not self.outcomes:
            raise StowRejected(400, "INVALID_ARGUMENT", "the body holds no DICOM instance")

    def _too_large(self) -> str:
        return (f"the body passes the STOW-RS limit of {self.config.max_stow_bytes} bytes "
                f"(CERVIXAI_GATEWAY_MAX_STOW_BYTES); send the study in several requests")

    def _stop(self, status: int, code: str, message: str) -> None:
        """The body is read no further: refused whole while nothing is stored, otherwise the
        answer lists what was and says why the rest was not read."""
        if not any(o.stored for o in self.outcomes):
            raise StowRejected(status, code, message)
        self.note = f"the rest of the body was not read: {message}"

    async def _store_ready(self, parts: _Parts) -> bool:
        """Store the parts parsed so far; False when the listener stopped answering after some
        instances were stored (the rest is not read)."""
        while parts.ready:
            part = parts.ready.pop(0)
            try:
                self.outcomes.append(await run_in_threadpool(self._store, part))
            except (DependencyUnavailable, Overloaded) as e:
                if not any(o.stored for o in self.outcomes):
                    raise
                self.outcomes.append(Stored(False, OUT_OF_RESOURCES, _UNAVAILABLE))
                self.note = f"the rest of the body was not read: {e}"
                return False
        return True

    def _store(self, part: Part) -> Stored:
        if part.content_type != DICOM:
            return Stored(False, CANNOT_UNDERSTAND, f"parts must be {DICOM}")
        if part.over_limit:
            return Stored(False, OUT_OF_RESOURCES,
                          f"an instance over the limit of {self.config.max_upload_bytes} bytes")
        if not part.data:
            return Stored(False, CANNOT_UNDERSTAND, "an empty part")
        try:
            result = self.gateway.studies.store_instance(bytes(part.data), self.study_uid,
                                                         deadline_seconds=None)
        except BackendStatus as e:   # the listener's INVALID_ARGUMENT about the instance
            return Stored(False, CANNOT_UNDERSTAND, e.message[:200])
        return Stored(result.stored, result.failure_reason, result.error, result.sop_class_uid,
                      result.sop_instance_uid)

    def reply(self) -> Response:
        stored = sum(o.stored for o in self.outcomes)
        complete = stored == len(self.outcomes) and self.note is None
        status = 200 if complete else 202 if stored else 409
        headers = {}
        if (warning := _warning(self.outcomes, self.note)) is not None:
            headers["Warning"] = warning
        return JSONResponse(response_dataset(self.outcomes).to_json_dict(), status_code=status,
                            media_type=DICOM_JSON, headers=headers)


STUDY_PARAMETER = {"name": "study_instance_uid", "in": "path", "required": True,
                   "description": "Every instance must belong to this study (others fail with "
                                  "0xA900).",
                   "schema": {"type": "string", "minLength": 1, "maxLength": MAX_UID_CHARS,
                              "pattern": UID_PATTERN}}
_RESPONSE = {"description": "", "content": {DICOM_JSON: {"schema": {
    "type": "object", "description": "The Store Instances Response Module (PS3.18 10.5.3) in "
                                     "the DICOM JSON model: Referenced SOP Sequence "
                                     "(00081199), Failed SOP Sequence (00081198) with Failure "
                                     "Reason (00081197)"}}}}
OPERATION = {
    "requestBody": {"required": True, "content": {f'multipart/related; type="{DICOM}"': {
        "schema": {"type": "string", "format": "binary", "description":
                   "Parts of PS3.10 instances (MR or Enhanced MR Image Storage)"}}}},
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {**_RESPONSE, "description": "Every instance was stored by the DICOM listener"},
    202: {**_RESPONSE, "description": "Some instances were stored, some failed (see the "
                                      "`Warning` header)"},
    409: {**_RESPONSE, "description": "No instance was stored (see the `Warning` header)"},
    400: openapi.error_response("No part, a malformed body, or a bad StudyInstanceUID in the "
                                "path"),
    406: openapi.error_response(f"The answer is {DICOM_JSON} only"),
    413: openapi.error_response("The body passes CERVIXAI_GATEWAY_MAX_STOW_BYTES"),
    415: openapi.error_response(f'Not multipart/related; type="{DICOM}"'),
    429: openapi.error_response("The listener is at capacity: retry after `Retry-After`"),
    503: openapi.error_response("No DICOM listener is configured (NOT_CONFIGURED), or it is "
                                "down (UNAVAILABLE)"),
}


def add_stow_routes(app: FastAPI, gateway: Gateway) -> None:
    """``POST /dicom-web/studies`` and ``POST /dicom-web/studies/{uid}``, on ``app``."""
    trusted = gateway.config.trusted_proxies

    async def store(request: Request, study_text: str | None) -> Response:
        request_id = new_request_id()
        started = time.monotonic()
        stow: StowRequest | None = None
        status, code = "error", "INTERNAL"
        try:
            if not _accepts_json(request.headers.get("accept")):
                raise StowRejected(406, "NOT_ACCEPTABLE", f"the answer is {DICOM_JSON}")
            study_uid = None
            if study_text is not None:
                key = study_key_from_uid(study_text, "study_instance_uid")
                if isinstance(key, FieldViolation):
                    raise InvalidInput(key)
                study_uid = key.value
            if not gateway.studies.configured:
                raise ListenerNotConfigured()
            stow = StowRequest(gateway, study_uid)
            await stow.run(request)
            reply = stow.reply()
            status, code = _AUDIT_OUTCOME[reply.status_code]
            return reply
        except StowRejected as e:
            status, code = "rejected", e.code
            return error_response(e.status, e.code, str(e), request_id=request_id)
        except Exception as e:
            status, code = outcome_of(e)
            return error_reply(e, request_id)
        finally:
            outcomes = stow.outcomes if stow is not None else []
            stored = sum(o.stored for o in outcomes)
            elapsed = time.monotonic() - started
            gateway.studies.record_stow(
                request_id=request_id, api="http", client=client_address(request, trusted),
                study_in_path=study_text is not None, status=status, code=code, stored=stored,
                failed=len(outcomes) - stored, size=stow.size if stow is not None else 0,
                duration_seconds=elapsed)
            log.info("STOW-RS %s %s: %d stored, %d failed in %.2f s", request_id, status, stored,
                     len(outcomes) - stored, elapsed)

    @app.post("/dicom-web/studies", operation_id="stow_studies", response_class=Response,
              summary="Store instances (STOW-RS) for the DICOM listener",
              openapi_extra=OPERATION, responses=RESPONSES)
    async def stow_studies(request: Request) -> Response:
        return await store(request, None)

    @app.post("/dicom-web/studies/{study_instance_uid}", operation_id="stow_study",
              response_class=Response,
              summary="Store one study's instances (STOW-RS) for the DICOM listener",
              openapi_extra={**OPERATION, "parameters": [STUDY_PARAMETER]},
              responses=RESPONSES)
    async def stow_study(request: Request) -> Response:
        return await store(request, request.path_params["study_instance_uid"])

