"""Sending one postoperative study to the gateway, as a hospital would: HTTP
``POST /v1/assessments`` (multipart: stage, clinical JSON, the DICOM files) or gRPC
``cervix.v1.Gateway/Assess``. Both return the reply as the same JSON dict.

Failures become :class:`AssessmentFailed`, whose text is safe to log: the HTTP status or gRPC code,
the error code, the backend named by a 503 and the *names* of invalid fields — never a field
violation's description, which may quote a clinical value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cervixai.dicom import DicomSource


class AssessmentFailed(Exception):
    """The gateway refused or failed one assessment (or could not be reached)."""

    def __init__(self, reason: str, *, status: int | str | None = None, code: str = "",
                 fields: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code
        self.fields = list(fields)


class Assessor(Protocol):
    api: str

    def assess(self, record: Mapping[str, float | str],
               files: Sequence[DicomSource]) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class HttpAssessor:
    """``POST {url}/v1/assessments`` with a timeout per request."""

    url: str
    timeout_seconds: float = 300.0
    api: str = "http"
    _client: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import httpx

        self.url = self.url.rstrip("/")
        self._client = httpx.Client(timeout=self.timeout_seconds)

    def assess(self, record: Mapping[str, float | str],
               files: Sequence[DicomSource]) -> dict[str, Any]:
        import httpx

        parts = [("files", (f.name, f.data, "application/dicom")) for f in files]
        try:
            reply = self._client.post(f"{self.url}/v1/assessments",
                                      data={"stage": "postoperative",
                                            "clinical": json.dumps(dict(record))},
                                      files=parts)
        except httpx.TimeoutException as e:
            raise AssessmentFailed(f"no reply within {self.timeout_seconds:g} s",
                                   code="TIMEOUT") from e
        except httpx.TransportError as e:
            raise AssessmentFailed(f"cannot reach the gateway ({type(e).__name__})",
                                   code="TRANSPORT") from e
        if reply.status_code != 200:
            raise _http_failure(reply.status_code, reply.text)
        body = reply.json()
        if not isinstance(body, dict):
            raise AssessmentFailed("the reply is not a JSON object", status=200, code="BODY")
        return body

    def close(self) -> None:
        self._client.close()


def _http_failure(status: int, text: str) -> AssessmentFailed:
    try:
        error = json.loads(text).get("error", {})
    except (ValueError, AttributeError):
        error = {}
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    fields = [str(v.get("field", "")) for v in error.get("field_violations", [])
              if isinstance(v, dict)] if isinstance(error, dict) else []
    if fields:
        reason = f"HTTP {status} {code}: invalid {', '.join(fields)}"
    elif isinstance(error, dict) and error.get("backend"):
        reason = f"HTTP {status} {code}: backend {error['backend']} unavailable"
    else:
        reason = f"HTTP {status} {code}".rstrip()
    return AssessmentFailed(reason, status=status, code=code, fields=fields)


@dataclass
class GrpcAssessor:
    """``cervix.v1.Gateway/Assess`` with a deadline per request."""

    address: str
    timeout_seconds: float = 300.0
    api: str = "grpc"
    _channel: Any = field(default=None, repr=False)
    _stub: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import grpc

        from cervix.v1 import gateway_pb2_grpc
        from cervixai.service import DEFAULT_MAX_MESSAGE_BYTES, channel_options

        self._channel = grpc.insecure_channel(self.address,
                                              options=channel_options(DEFAULT_MAX_MESSAGE_BYTES))
        self._stub = gateway_pb2_grpc.GatewayStub(self._channel)  # type: ignore[no-untyped-call]

    def assess(self, record: Mapping[str, float | str],
               files: Sequence[DicomSource]) -> dict[str, Any]:
        import grpc
        from google.protobuf.json_format import MessageToDict

        from cervix.v1 import common_pb2, gateway_pb2
        from cervixai.clinical.proto import record_to_proto
        from cervixai.clinical.schema import Stage
        from cervixai.clinical.validate import validate_record
        from cervixai.errors import InvalidInput
        from cervixai.service import violations_from_error

        try:
            clinical = record_to_proto(validate_record(dict(record), Stage.POSTOPERATIVE))
        except InvalidInput as e:
            fields = [v.field for v in e.violations]
            raise AssessmentFailed(f"invalid {', '.join(fields)}", code="INVALID_ARGUMENT",
                                   fields=fields) from e
        request = gateway_pb2.AssessRequest(
            stage=common_pb2.STAGE_POSTOPERATIVE, clinical=clinical,
            dicom_files=[gateway_pb2.DicomFile(name=f.name, data=f.data) for f in files])
        try:
            reply = self._stub.Assess(request, timeout=self.timeout_seconds)
        except grpc.RpcError as e:
            code = e.code().name if e.code() is not None else "UNKNOWN"
            fields = [v.field for v in violations_from_error(e)]
            if fields:
                reason = f"gRPC {code}: invalid {', '.join(fields)}"
            elif code == "DEADLINE_EXCEEDED":
                reason = f"gRPC {code}: no reply within {self.timeout_seconds:g} s"
            elif code == "UNAVAILABLE":
                reason = f"gRPC {code}: {e.details()}"
            else:
                reason = f"gRPC {code}"
            raise AssessmentFailed(reason, status=code, code=code, fields=fields) from e
        return dict(MessageToDict(reply, preserving_proto_field_name=True,
                                  always_print_fields_with_no_presence=True))

    def close(self) -> None:
        self._channel.close()
