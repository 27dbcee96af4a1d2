"""What the HTTP API's JSON shares: the error body, and parsing a caller's JSON within bounds
(the assessment form's ``clinical`` field, a study's clinical record body)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

from cervixai.errors import FieldViolation, InvalidInput

# The clinical record is a flat object of a few dozen variables (well under 2 KiB); the bounds
# keep a hostile one from costing more than a moment to refuse.
MAX_CLINICAL_BYTES = 64 * 1024
MAX_CLINICAL_DEPTH = 8
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


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


def error_response(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, **details), status_code=status)


def invalid(e: InvalidInput, request_id: str | None = None) -> JSONResponse:
    return error_response(400, "INVALID_ARGUMENT", str(e.violations[0]),
                          violations=list(e.violations), request_id=request_id)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a finite number; send numbers only")


def json_depth(text: str) -> int:
    """How deep the JSON text nests arrays and objects (brackets inside strings not counted),
    found without parsing it."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def bounded_json_object(text: str, field: str, *, max_bytes: int, max_depth: int,
                        depth_note: str, what: str) -> dict[str, Any] | FieldViolation:
    """``text`` as a JSON object, or a violation of ``field`` saying what is wrong with it:
    its size and nesting are checked before it is parsed, and ``NaN`` / ``Infinity`` are
    refused while parsing."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return FieldViolation(field, f"is {size} bytes; the limit is {max_bytes // 1024} KiB "
                                     f"({max_bytes} bytes)")
    depth = json_depth(text)
    if depth > max_depth:
        return FieldViolation(field, f"nests {depth} levels deep; the limit is {max_depth} "
                                     f"({depth_note})")
    try:
        raw = json.loads(text, parse_constant=_refuse_constant)
        if not isinstance(raw, dict):
            raise ValueError("must be a JSON object")
    except (ValueError, RecursionError) as e:
        return FieldViolation(field, f"must be {what}: {e}")
    return raw


def clinical_from_json(text: object) -> Mapping[str, object] | FieldViolation:
    """The form's ``clinical`` part as a JSON object, or what is wrong with it (the limits
    above)."""
    if not isinstance(text, str):
        return FieldViolation("clinical", "must be a JSON object of variables; the field is "
                                          "missing (or was sent as a file)")
    return bounded_json_object(text, "clinical", max_bytes=MAX_CLINICAL_BYTES,
                               max_depth=MAX_CLINICAL_DEPTH,
                               depth_note="a record is one flat object",
                               what="a JSON object of variables")
