"""The HTTP API (FastAPI): assessments, health, readiness, metrics, schema and the web page."""

from __future__ import annotations

import base64
import io
import logging
import re
import time
from pathlib import Path
from typing import Any

import fastapi_offline
import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from google.protobuf.json_format import MessageToDict
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import UploadFile
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match
from starlette.types import Message, Receive

from cervixai import __version__
from cervixai.clinical.schema import OUTCOME_VARIABLES, VARIABLES, Stage
from cervixai.dicom import DicomSource
from cervixai.errors import DependencyUnavailable, InvalidInput, Overloaded
from cervixai.results import KINDS
from gateway import openapi
from gateway.auth import Authenticator
from gateway.authz import HttpAuthorization, http_scope
from gateway.headers import SecurityHeaders, client_address
from gateway.http_json import (
    MAX_CLINICAL_BYTES,
    MAX_CLINICAL_DEPTH,
    clinical_from_json,
    error_response,
    invalid,
)
from gateway.metrics import HTTP_LATENCY, HTTP_REQUESTS
from gateway.pipeline import Assessment
from gateway.request import (
    HTTP_FIELDS,
    MAX_SUBJECT_CHARS,
    STAGE_WORDS,
    Parsed,
    new_request_id,
    parse_assessment,
    results_from_words,
    stage_from_word,
    subject_from,
)
from gateway.service import Gateway
from gateway.stow import add_stow_routes
from gateway.studies_http import add_study_routes
from gateway.studies_http import schemas as study_schemas

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# Swagger UI 5 (OpenAPI 3.1), as the fastapi-offline package ships it: served from here, no CDN
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
_TRUE_WORDS = {"true", "1", "yes", "on"}
_FALSE_WORDS = {"false", "0", "no", "off", ""}
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")   # {accession_number:study_key} → {accession_number}
ASSESS_OPERATION = {
    "parameters": [{"name": "preview", "in": "query", "required": False,
                    "schema": {"type": "boolean", "default": False},
                    "description": "Add every slice as a PNG (`preview`) for viewers."}],
    "requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"$ref": "#/components/schemas/AssessmentForm"}}}},
}
ASSESSMENT_FORM = {
    "type": "object", "title": "AssessmentForm",
    "required": ["stage", "clinical", "files"],
    "properties": {
        "stage": {"type": "string", "enum": list(STAGE_WORDS)},
        "clinical": {"type": "string", "description":
                     "The clinical record as a JSON object: variable name → number or level "
                     f"(see GET /v1/schema); at most {MAX_CLINICAL_BYTES // 1024} KiB of UTF-8, "
                     f"nested at most {MAX_CLINICAL_DEPTH} deep, finite numbers only."},
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "The DICOM files of one MR series, or one .zip"},
        "results": {"type": "string", "description":
                    "Result objects to return in `result_objects` (docs/results.md): some of "
                    f"{', '.join(KINDS)}, comma-separated (the field may also be repeated). "
                    "None by default."},
        "subject": {"type": "string", "maxLength": MAX_SUBJECT_CHARS, "description":
                    "The FHIR subject reference of the FHIR Bundle (e.g. `Patient/123`): "
                    "opaque, copied into the Bundle only. Without it the Bundle's subject is "
                    "a display-only placeholder."},
    },
}
ASSESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: openapi.json_content("Assessment", "The assessment (cervix.v1.AssessResponse as JSON "
                                            "with proto field names; int64 values as decimal "
                                            "strings)"),
    400: openapi.error_response("Invalid input: `error.field_violations` lists every problem "
                                "of the stage, the clinical record and the DICOM at once"),
    413: openapi.error_response("Upload over the size limit"),
    500: openapi.error_response("Internal error (e.g. a backend refused what the gateway "
                                "built); the message is generic, `error.request_id` finds the "
                                "audit line"),
    429: openapi.error_response("At capacity (too many assessments in flight here or at a "
                                "backend): refused at once; retry after the `Retry-After` "
                                "header's seconds"),
    503: openapi.error_response("A backend is down, refusing or past its deadline; "
                                "`error.backend` names it"),
}


class _Metrics(BaseHTTPMiddleware):
    """Counts and times every HTTP request by route template (bounded: the app's own routes,
    or ``unmatched``) and status code."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        route = _route_template(request)   # before routing: a mount rewrites the scope's path
        status = 500  # an exception that escapes the endpoint becomes a 500
        started = time.perf_counter()
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            HTTP_REQUESTS.labels(route, str(status)).inc()
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)


def _route_template(request: Request) -> str:
    """The template of the app's route that matches ``request`` (FastAPI's documentation
    routes and the static mount included), or ``unmatched``: a bounded label, never a value of
    the path (``/v1/studies/{study_instance_uid}``; converters dropped, as in the OpenAPI
    document)."""
    for candidate in request.app.routes:
        match, _ = candidate.matches(request.scope)
        if match is Match.FULL:
            return _CONVERTOR.sub(r"{\1}", str(getattr(candidate, "path", "unmatched")))
    return "unmatched"


def create_app(gateway: Gateway, authenticator: Authenticator | None = None) -> FastAPI:
    """The ASGI application around a running :class:`Gateway`; with an ``authenticator``
    every endpoint but the open ones needs a bearer token with its scope (gateway/authz.py)."""
    # docs_url / redoc_url off: FastAPI's pages load Swagger UI from a public CDN with inline
    # script; /docs below serves it from the fastapi-offline package, without inline code
    app = FastAPI(title="cervixai gateway", version=__version__, docs_url=None, redoc_url=None,
                  description="Cervical-cancer MR assessment: lesion contour, risks of "
                              "parametrial invasion, lymph node metastasis, recurrence and "
                              "death, and survival estimates. 64-bit integers (proto int64) "
                              "are JSON strings.")
    if authenticator is not None:  # inside the metrics: refusals are counted too
        app.add_middleware(HttpAuthorization, authenticator=authenticator)
    app.add_middleware(_Metrics)
    origins = gateway.config.allowed_origins
    if origins:   # CORS for the configured origins only
        app.add_middleware(CORSMiddleware, allow_origins=list(origins),
                           allow_methods=["GET", "POST", "PUT"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(SecurityHeaders, allowed_origins=origins)   # outermost: every reply
    limit = gateway.config.max_upload_bytes

    @app.get("/healthz", operation_id="liveness", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", operation_id="readiness",
             summary="Readiness: every backend reports SERVING", response_class=JSONResponse,
             responses={200: openapi.json_content("Readiness", "Every backend is SERVING"),
                        503: openapi.json_content("Readiness", "A backend is not SERVING; "
                                                  "`backends` says which and why")})
    def readyz() -> JSONResponse:
        states = {b.name: b.ready() for b in gateway.backends.all}
        body: dict[str, Any] = {
            "status": "ready" if all(ok for ok, _ in states.values()) else "not ready",
            "backends": {name: reason for name, (_, reason) in states.items()}}
        listener = gateway.backends.listener
        if listener is not None:  # reported, never gating: assessments do not need it
            body["optional"] = {listener.name: listener.ready(timeout=0.5)[1]}
        return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)

    @app.get("/metrics", operation_id="metrics", summary="Prometheus metrics",
             response_class=Response,
             responses={200: {"description": "The Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/schema", operation_id="clinical_schema",
             summary="The clinical variables, their units, ranges and levels")
    def schema() -> dict[str, Any]:
        def describe(v: Any) -> dict[str, Any]:
            return {"name": v.name, "description": v.description, "kind": v.kind.value,
                    "unit": v.unit, "minimum": v.minimum, "maximum": v.maximum,
                    "levels": list(v.levels),
                    "stages": [s.value for s in v.stages],
                    "required": {s.value: v.required_at(s) for s in Stage}}
        return {"variables": [describe(v) for v in VARIABLES],
                "outcomes": [describe(v) for v in OUTCOME_VARIABLES],
                "max_upload_bytes": limit}

    @app.get("/v1/models", operation_id="models",
             summary="The served models, their served performance and the model card (Markdown)",
             response_class=JSONResponse,
             responses={200: {"description": "The models and the model card", "content": {
                                  "application/json": {"schema": {"type": "object"}}}},
                        404: openapi.error_response("The gateway was started without "
                                                    "CERVIXAI_BUNDLE (code NOT_CONFIGURED)")})
    def models() -> JSONResponse:
        if gateway.config.bundle is None:
            return error_response(404, "NOT_CONFIGURED", "this gateway was started without "
                                  "CERVIXAI_BUNDLE; the model services report their models in "
                                  "every reply")
        return JSONResponse(models_document(Path(gateway.config.bundle)))

    @app.post("/v1/assessments", operation_id="assess", summary="Assess one study",
              openapi_extra=ASSESS_OPERATION, response_class=JSONResponse,
              responses=ASSESS_RESPONSES)
    async def assess(request: Request) -> JSONResponse:
        request_id = new_request_id()
        client = client_address(request, gateway.config.trusted_proxies)
        audited = False  # the gateway writes the audit line once it has the request
        try:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and \
                    int(declared) > limit + FORM_OVERHEAD_BYTES:
                return error_response(413, "PAYLOAD_TOO_LARGE", f"the upload exceeds the limit "
                                                               f"of {limit / 1e6:g} MB")
            try:
                preview = _preview_wanted(request.query_params.get("preview"))
                parsed = await _read_form(request, limit)
            except InvalidInput as e:
                return invalid(e)
            except _TooLarge as e:
                return error_response(413, "PAYLOAD_TOO_LARGE", str(e))
            audited = True
            try:
                body = await run_in_threadpool(
                    gateway.assess_into, parsed, lambda result: _body(result, preview),
                    api="http", client=client, deadline_seconds=None, request_id=request_id)
            except InvalidInput as e:
                return invalid(e, request_id)
            except DependencyUnavailable as e:
                return error_response(503, "UNAVAILABLE", str(e), backend=e.dependency,
                                      request_id=request_id)
            except Overloaded as e:
                shed = error_response(429, "RESOURCE_EXHAUSTED", str(e), request_id=request_id)
                shed.headers["Retry-After"] = str(e.retry_after_seconds)
                return shed
            return JSONResponse(body)
        except Exception:  # never shown; answered here so that the connection stays usable
            log.exception("assessment %s failed", request_id)
            if not audited:
                gateway.record_internal(request_id, api="http", client=client)
            return error_response(500, "INTERNAL", "internal error; the gateway's log has the "
                                  "details under this request id", request_id=request_id)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    add_study_routes(app, gateway)
    add_stow_routes(app, gateway)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs/assets", StaticFiles(directory=SWAGGER_UI), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html")
    _add_schemas(app)
    return app


def _add_schemas(app: FastAPI) -> None:
    """The document FastAPI generates, plus the schemas the responses refer to."""
    original = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = original()
            spec.setdefault("components", {}).setdefault("schemas", {}).update(
                {**openapi.components(), "AssessmentForm": ASSESSMENT_FORM, **study_schemas()})
            openapi.declare_security(spec, http_scope)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def models_document(bundle_path: Path) -> dict[str, Any]:
    """Every model of the bundle (identity, threshold, image-feature provenance, served
    performance) and the bundle's model card."""
    from cervixai import modelcard
    from cervixai.bundle import load_bundle

    bundle = load_bundle(bundle_path)
    models = [{"name": name, "version": e.version, "task": e.task, "algorithm": e.algorithm,
               "feature_set": e.feature_set, "threshold": e.threshold,
               "image_features_from": e.parameters.get("image_features_from"),
               "segmenter_version": e.parameters.get("segmenter_version"),
               "served": e.metrics.get("served")}
              for name, e in sorted(bundle.models.items())]
    return {"models": models, "model_card": modelcard.render(bundle,
                                                             modelcard.stored_evaluation(bundle))}


class _TooLarge(Exception):
    pass


# the form's fields beside the files (stage, clinical record up to 64 KiB, results, subject)
# and the multipart framing
FORM_OVERHEAD_BYTES = 1_000_000


def _counting(receive: Receive, most: int, limit: int) -> Receive:
    """``receive`` that raises :class:`_TooLarge` once the body passes ``most`` bytes."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > most:
                raise _TooLarge(f"the upload exceeds the limit of {limit / 1e6:g} MB")
        return message

    return counted


def _preview_wanted(value: str | None) -> bool:
    word = (value or "").strip().lower()
    if word in _TRUE_WORDS | _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise InvalidInput.single("preview", f"must be true or false, got {word!r}")


def _body(result: Assessment, preview: bool) -> dict[str, Any]:
    """The 200 reply's JSON (built inside the gateway's accounting: a failure here is an
    INTERNAL assessment, audited as one)."""
    body = MessageToDict(result.response, preserving_proto_field_name=True,
                         always_print_fields_with_no_presence=True)
    if preview:
        body["preview"] = _preview(result)
    return body


async def _read_form(request: Request, limit: int) -> Parsed:
    """Decode the multipart body into the typed request (or its rejection: every problem of
    stage, record and upload shape, which the gateway reports with those of the DICOM)."""
    # the limit applies to the bytes as they arrive, chunked or not: the parser never spools
    # more than the limit (plus the form's other fields) to its temporary files
    counted = Request(request.scope, _counting(request.receive, limit + FORM_OVERHEAD_BYTES,
                                               limit))
    try:
        form = await counted.form(max_files=2000, max_fields=20, max_part_size=limit)
    except _TooLarge:
        raise
    except Exception as e:  # the multipart parser's errors carry no patient data
        raise InvalidInput.single("body", f"not a valid multipart/form-data body: {e}") from e
    try:
        files: list[DicomSource] = []
        archives: list[bytes] = []
        total = 0
        for upload in (f for f in form.getlist("files") if isinstance(f, UploadFile)):
            data = await upload.read()
            total += len(data)
            if total > limit:
                raise _TooLarge(f"the upload exceeds the limit of {limit / 1e6:g} MB")
            name = upload.filename or f"file-{len(files)}"
            if name.lower().endswith(".zip"):
                archives.append(data)
            else:
                files.append(DicomSource(name, data))
        stage = form.get("stage")
        subject = form.get("subject")
        results = [v for v in form.getlist("results") if isinstance(v, str)]
        # off the event loop: parsing and validating a record costs CPU the other requests
        # (and /healthz) would wait for
        return await run_in_threadpool(
            _parse_form, stage if isinstance(stage, str) else None, form.get("clinical"),
            files, archives, results, subject if isinstance(subject, str) else None)
    finally:
        await form.close()


def _parse_form(stage: str | None, clinical: object, files: list[DicomSource],
                archives: list[bytes], results: list[str], subject: str | None) -> Parsed:
    return parse_assessment(stage_from_word(stage), clinical_from_json(clinical), files,
                            archives, HTTP_FIELDS, results_from_words(results),
                            subject_from(subject, "subject"))


def _preview(result: Assessment) -> dict[str, Any]:
    """Every slice as a PNG (for the page's slice viewer), plus where the lesion is largest."""
    from PIL import Image

    assert result.series is not None
    slices = []
    for image in result.series.volume:
        buffer = io.BytesIO()
        Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).save(buffer, "PNG")
        slices.append(base64.b64encode(buffer.getvalue()).decode())
    return {"slices_png_base64": slices,
            "largest_slice_index": int(result.response.segmentation.measurements
                                       .largest_slice_index)}
