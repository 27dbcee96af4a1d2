"""The HTTP API (FastAPI): assessments, health, readiness, metrics, schema and the web page."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from google.protobuf.json_format import MessageToDict
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import UploadFile
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from cervix.v1 import clinical_pb2, common_pb2
from cervixai import __version__
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import OUTCOME_VARIABLES, VARIABLES, Stage
from cervixai.clinical.validate import validate_record
from cervixai.dicom import DicomSource
from cervixai.errors import DependencyUnavailable, FieldViolation, InvalidInput
from gateway.metrics import HTTP_REQUESTS
from gateway.pipeline import Assessment, AssessmentInput
from gateway.service import Gateway

STATIC = Path(__file__).parent / "static"
STAGE_VALUES = {"preoperative": common_pb2.STAGE_PREOPERATIVE,
                "postoperative": common_pb2.STAGE_POSTOPERATIVE}

ASSESS_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["stage", "clinical", "files"],
            "properties": {
                "stage": {"type": "string", "enum": list(STAGE_VALUES)},
                "clinical": {"type": "string", "description":
                             "The clinical record as a JSON object: variable name → number or "
                             "level (see GET /v1/schema)."},
                "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                          "description": "The DICOM files of one MR series, or one .zip"},
            }}}},
    },
    "responses": {
        "200": {"description": "The assessment (cervix.v1.AssessResponse as JSON)"},
        "400": {"description": "Invalid input; `error.field_violations` lists every problem"},
        "413": {"description": "Upload over the size limit"},
        "503": {"description": "A backend is down; `error.backend` names it"},
    },
}


def error_body(code: str, message: str, *, violations: list[FieldViolation] | None = None,
               backend: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if violations is not None:
        error["field_violations"] = [{"field": v.field, "description": v.description}
                                     for v in violations]
    if backend:
        error["backend"] = backend
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


class _Metrics(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(template, str(response.status_code)).inc()
        return response


def create_app(gateway: Gateway) -> FastAPI:
    """The ASGI application around a running :class:`Gateway`."""
    app = FastAPI(title="cervixai gateway", version=__version__,
                  description="Cervical-cancer MR assessment: lesion contour, risks of "
                              "parametrial invasion, lymph node metastasis, recurrence and "
                              "death, and survival estimates.")
    app.add_middleware(_Metrics)
    limit = gateway.config.max_upload_bytes

    @app.get("/healthz", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: every backend reports SERVING")
    def readyz() -> JSONResponse:
        states = {b.name: b.ready() for b in gateway.backends.all}
        body = {"status": "ready" if all(ok for ok, _ in states.values()) else "not ready",
                "backends": {name: reason for name, (_, reason) in states.items()}}
        return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/schema", summary="The clinical variables, their units, ranges and levels")
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

    @app.get("/v1/models", summary="The served models, their served performance and the "
                                   "model card (Markdown)",
             responses={404: {"description": "The gateway was started without CERVIXAI_BUNDLE"}})
    def models() -> JSONResponse:
        if gateway.config.bundle is None:
            return JSONResponse(error_body(
                "not_configured", "this gateway was started without CERVIXAI_BUNDLE; the model "
                "services report their models in every reply"), status_code=404)
        return JSONResponse(models_document(Path(gateway.config.bundle)))

    @app.post("/v1/assessments", summary="Assess one study", openapi_extra=ASSESS_BODY)
    async def assess(request: Request, preview: bool = False) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + 1_000_000:
            return JSONResponse(error_body("PAYLOAD_TOO_LARGE", f"the upload exceeds the limit "
                                           f"of {limit / 1e6:g} MB"), status_code=413)
        try:
            job = await _read_form(request, limit)
        except InvalidInput as e:
            return JSONResponse(error_body("INVALID_ARGUMENT", str(e.violations[0]),
                                           violations=list(e.violations)), status_code=400)
        except _TooLarge as e:
            return JSONResponse(error_body("PAYLOAD_TOO_LARGE", str(e)), status_code=413)
        client = request.client.host if request.client else "unknown"
        try:
            result = await run_in_threadpool(gateway.assess, job, api="http", client=client,
                                             deadline_seconds=None)
        except InvalidInput as e:
            return JSONResponse(error_body("INVALID_ARGUMENT", str(e.violations[0]),
                                           violations=list(e.violations),
                                           request_id=getattr(e, "request_id", None)),
                                status_code=400)
        except DependencyUnavailable as e:
            return JSONResponse(error_body("UNAVAILABLE", str(e), backend=e.dependency,
                                           request_id=getattr(e, "request_id", None)),
                                status_code=503)
        body = MessageToDict(result.response, preserving_proto_field_name=True,
                             always_print_fields_with_no_presence=True)
        if preview:
            body["preview"] = _preview(result)
        return JSONResponse(body)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


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


async def _read_form(request: Request, limit: int) -> AssessmentInput:
    """Decode the multipart body; problems of stage, record and upload travel with the request
    (``decoding_violations``) so that the pipeline reports them with those of the DICOM files."""
    try:
        form = await request.form(max_files=2000, max_fields=20, max_part_size=limit)
    except Exception as e:  # the multipart parser's errors carry no patient data
        raise InvalidInput.single("body", f"not a valid multipart/form-data body: {e}") from e
    violations: list[FieldViolation] = []
    stage_text = str(form.get("stage") or "").strip().lower()
    stage = STAGE_VALUES.get(stage_text, common_pb2.STAGE_UNSPECIFIED)
    if stage == common_pb2.STAGE_UNSPECIFIED:
        violations.append(FieldViolation("stage", f"must be preoperative or postoperative, got "
                                                  f"{stage_text or 'nothing'!r}"))
    record = clinical_pb2.ClinicalRecord()
    raw_text = form.get("clinical")
    try:
        raw = json.loads(str(raw_text)) if raw_text is not None else None
        if not isinstance(raw, dict):
            raise ValueError("must be a JSON object")
    except ValueError as e:
        violations.append(FieldViolation("clinical", f"must be a JSON object of variables: {e}"))
        raw = None
    if raw is not None:
        try:
            validated = validate_record(raw, Stage(stage_text) if stage else Stage.PREOPERATIVE)
            record = record_to_proto(validated)
        except InvalidInput as e:
            violations.extend(e.violations)
    files: list[DicomSource] = []
    zip_data = b""
    total = 0
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    for upload in uploads:
        data = await upload.read()
        total += len(data)
        if total > limit:
            raise _TooLarge(f"the upload exceeds the limit of {limit / 1e6:g} MB")
        name = upload.filename or f"file-{len(files)}"
        if name.lower().endswith(".zip"):
            zip_data = data
        else:
            files.append(DicomSource(name, data))
    if not uploads:
        violations.append(FieldViolation("files", "no DICOM files were sent"))
    if zip_data and files:
        violations.append(FieldViolation("files", "send DICOM files or one zip, not both"))
    await form.close()
    # every problem is reported at once: the pipeline adds those of the DICOM files
    return AssessmentInput(stage, record, files, zip_data, decoding_violations=violations)


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
