"""The HTTP API's contract: JSON schemas of the assessment reply (derived from the proto
descriptors, so they cannot drift from ``cervix.v1.AssessResponse``), of the error body, and of
the other endpoints' replies, for ``/openapi.json``.

The reply is ``MessageToDict(response, preserving_proto_field_name=True,
always_print_fields_with_no_presence=True)``: proto field names; every field without presence
(scalars, repeated, maps) always there, so required; message fields and ``optional`` scalars
only when set. The proto3 JSON mapping writes enums as their value names, ``int64`` / ``uint64``
as decimal strings (JSON numbers cannot hold every 64-bit integer), ``bytes`` as base64 and
repeated fields as arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from cervix.v1 import gateway_pb2

Schema = dict[str, Any]
Visit = Callable[[Descriptor], None]

INT64_NOTE = ("A 64-bit integer, written as a decimal string (the proto3 JSON mapping of "
              "int64/uint64): read it with int().")
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64,
          FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}
_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_NUMBER = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}

ERROR_CODES = ("INVALID_ARGUMENT", "PAYLOAD_TOO_LARGE", "INTERNAL", "UNAVAILABLE",
               "NOT_CONFIGURED", "UNAUTHENTICATED", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
               "NOT_FOUND", "FAILED_PRECONDITION")
BEARER = "bearer"


def schema_name(message: Descriptor) -> str:
    """The component name of a message: its name, nested ones prefixed with their parents'."""
    package = message.file.package
    return message.full_name.removeprefix(f"{package}.").replace(".", "")


def message_schemas(root: Descriptor) -> dict[str, Schema]:
    """JSON schemas of ``root`` and every message it reaches, by :func:`schema_name`; fields
    refer to each other with ``$ref: #/components/schemas/<name>``."""
    schemas: dict[str, Schema] = {}

    def visit(message: Descriptor) -> None:
        name = schema_name(message)
        if name in schemas:
            return
        if message.full_name.startswith("google.protobuf."):
            raise NotImplementedError(f"{message.full_name} has its own JSON mapping; add it")
        schemas[name] = {}  # reserved first: messages may refer to each other
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in message.fields:
            properties[field.name] = _field_schema(field, visit)
            if not field.has_presence:
                required.append(field.name)
        schemas[name] = {"type": "object", "title": name,
                         "description": f"cervix.v1 message {message.full_name} as JSON.",
                         "properties": properties, "required": required}

    visit(root)
    return schemas


def _field_schema(field: FieldDescriptor, visit: Visit) -> Schema:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        value = message.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _scalar_schema(value, visit)}
    schema = _scalar_schema(field, visit)
    if field.is_repeated:
        return {"type": "array", "items": schema}
    return schema


def _scalar_schema(field: FieldDescriptor, visit: Visit) -> Schema:
    kind = field.type
    if field.message_type is not None:
        visit(field.message_type)
        return {"$ref": f"#/components/schemas/{schema_name(field.message_type)}"}
    if field.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values],
                "description": f"cervix.v1 enum {field.enum_type.full_name}, by value name."}
    if kind in _INT64:
        return {"type": "string", "pattern": "^-?[0-9]+$", "description": INT64_NOTE}
    if kind in _INT32:
        return {"type": "integer", "format": "int32"}
    if kind in _UINT32:
        return {"type": "integer", "minimum": 0}
    if kind in _NUMBER:
        return {"type": "number"}
    if kind == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if kind == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "format": "byte", "description": "Bytes, base64-encoded."}
    raise NotImplementedError(f"no JSON schema for field {field.full_name} of type {kind}")


def preview_schema() -> Schema:
    return {"type": "object", "title": "Preview",
            "description": "Only with ?preview=true: every slice of the normalised volume as a "
                           "PNG, for viewers.",
            "properties": {
                "slices_png_base64": {"type": "array", "items": {
                    "type": "string", "format": "byte",
                    "description": "One slice as a base64-encoded PNG, in slice order."}},
                "largest_slice_index": {"type": "integer",
                                        "description": "The slice where the lesion is largest "
                                                       "(0-based)."}},
            "required": ["slices_png_base64", "largest_slice_index"]}


def error_schemas() -> dict[str, Schema]:
    return {
        "FieldViolation": {
            "type": "object", "title": "FieldViolation",
            "properties": {"field": {"type": "string", "description": (
                "Dotted path of the field: stage, clinical.<variable>, files[i] / files for the "
                "uploaded DICOM, series for the series as a whole, preview, body; "
                "study_instance_uid / accession_number for a study's key.")},
                           "description": {"type": "string"}},
            "required": ["field", "description"]},
        "Error": {
            "type": "object", "title": "Error",
            "properties": {
                "code": {"type": "string", "enum": list(ERROR_CODES)},
                "message": {"type": "string"},
                "field_violations": {"type": "array", "description": "400 only: every "
                                     "problem of the request at once.",
                                     "items": {"$ref": "#/components/schemas/FieldViolation"}},
                "backend": {"type": "string", "description": "503 only: the backend that is "
                            "down, refusing or past its deadline, or (NOT_CONFIGURED) the "
                            "`listener` that is not configured."},
                "request_id": {"type": "string", "description": "The audit log's id of the "
                               "request, when it got one."}},
            "required": ["code", "message"]},
        "ErrorBody": {"type": "object", "title": "ErrorBody",
                      "properties": {"error": {"$ref": "#/components/schemas/Error"}},
                      "required": ["error"]},
    }


def readiness_schema() -> Schema:
    return {"type": "object", "title": "Readiness",
            "properties": {
                "status": {"type": "string", "enum": ["ready", "not ready"]},
                "backends": {"type": "object", "description": "backend → its health status "
                             "(SERVING, NOT_SERVING, UNAVAILABLE, ...)",
                             "additionalProperties": {"type": "string"}},
                "optional": {"type": "object", "description": "Only when a DICOM listener is "
                             "configured: `listener` → its health status. Reported, never part "
                             "of `status`: assessments do not need it.",
                             "additionalProperties": {"type": "string"}}},
            "required": ["status", "backends"]}


def components() -> dict[str, Schema]:
    """Every schema the HTTP API's document refers to."""
    result = message_schemas(gateway_pb2.AssessResponse.DESCRIPTOR)  # type: ignore[arg-type]
    assessment = result.pop("AssessResponse")
    assessment["title"] = "Assessment"
    assessment["description"] = ("The assessment: cervix.v1.AssessResponse as JSON (proto "
                                 "field names; int64 values as decimal strings), plus "
                                 "`preview` when asked for.")
    assessment["properties"] = {**assessment["properties"],
                                "preview": {"$ref": "#/components/schemas/Preview"}}
    return {**result, "Assessment": assessment, "Preview": preview_schema(),
            **error_schemas(), "Readiness": readiness_schema()}


def json_content(name: str, description: str) -> dict[str, Any]:
    """A ``responses`` entry whose JSON body is the component ``name``."""
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}


def error_response(description: str) -> dict[str, Any]:
    return json_content("ErrorBody", description)


def declare_security(spec: dict[str, Any], scope_of: Callable[[str, str], str | None]) -> None:
    """Declare the bearer-token scheme, and on every operation the scope ``scope_of(method,
    path)`` says it needs (OpenAPI 3.1 lets an http scheme list them) with its 401 and 403
    replies; open operations get an empty ``security``. Applies when the gateway runs with
    ``CERVIXAI_GATEWAY_AUTH=jwt`` (docs/security.md)."""
    spec.setdefault("components", {}).setdefault("securitySchemes", {})[BEARER] = {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "An OAuth 2.0 access token (JWT) from the identity provider the gateway "
                       "trusts, when it runs with CERVIXAI_GATEWAY_AUTH=jwt."}
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            scope = scope_of(method.upper(), path)
            if scope is None:
                operation["security"] = []
                continue
            operation["security"] = [{BEARER: [scope]}]
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", error_response(
                "No bearer token, or one that is invalid, expired or not meant for this "
                "gateway (code UNAUTHENTICATED; the `WWW-Authenticate` header says why)"))
            responses.setdefault("403", error_response(
                f"The token lacks the scope {scope} (code PERMISSION_DENIED)"))
