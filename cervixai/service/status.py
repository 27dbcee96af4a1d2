"""Rich gRPC status: cervixai exceptions ↔ google.rpc.Status with BadRequest details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from cervixai.errors import FieldViolation, InvalidInput


def invalid_argument_status(error: InvalidInput) -> grpc.Status:
    """INVALID_ARGUMENT carrying every field violation as a google.rpc.BadRequest detail."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=_summary(error), details=[detail]
    )
    return rpc_status.to_status(status)


def violations_from_error(error: grpc.RpcError) -> list[FieldViolation]:
    """The field violations carried by an INVALID_ARGUMENT error (empty if it carries none)."""
    status = rpc_status.from_call(error)
    if status is None:
        return []
    out: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            out.extend(FieldViolation(v.field, v.description) for v in bad_request.field_violations)
    return out


def _summary(error: InvalidInput) -> str:
    first = error.violations[0]
    more = len(error.violations) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"invalid request: {first}{suffix}"
