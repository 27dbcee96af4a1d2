"""The gateway's gRPC servicer: cervix.v1.Gateway (Assess and AssessStream).

Each method only decodes its messages into the pieces :func:`gateway.request.parse_assessment`
checks (the same function as the HTTP API's); the interceptor maps the errors: InvalidInput →
INVALID_ARGUMENT with every field violation, DependencyUnavailable → UNAVAILABLE, anything else
(a backend refusing what the gateway built, a result object that could not be built) →
INTERNAL.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from cervix.v1 import gateway_pb2, gateway_pb2_grpc
from cervixai.dicom import DicomSource
from cervixai.errors import InvalidInput
from gateway.request import (
    GRPC_FIELDS,
    Parsed,
    parse_assessment,
    results_from_proto,
    stage_from_proto,
    subject_from,
)
from gateway.service import Gateway


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def Assess(self, request: gateway_pb2.AssessRequest,
               context: grpc.ServicerContext) -> gateway_pb2.AssessResponse:
        files = [DicomSource(f.name or f"file-{i}", f.data)
                 for i, f in enumerate(request.dicom_files)]
        self._check_size(sum(len(f.data) for f in files) + len(request.dicom_zip))
        parsed = parse_assessment(stage_from_proto(request.stage), request.clinical, files,
                                  [request.dicom_zip] if request.dicom_zip else [], GRPC_FIELDS,
                                  results_from_proto(request.results),
                                  subject_from(request.subject_reference, "subject_reference"))
        return self._assess(parsed, context)

    def AssessStream(self, request_iterator: Iterator[gateway_pb2.AssessChunk],
                     context: grpc.ServicerContext) -> gateway_pb2.AssessResponse:
        """The header, then file chunks; the files are named as in Assess (``dicom_files[i]``
        in the order of their first chunk, a ``*.zip`` file as ``dicom_zip``)."""
        header: gateway_pb2.AssessHeader | None = None
        parts: dict[str, list[bytes]] = {}
        size = 0
        for index, chunk in enumerate(request_iterator):
            kind = chunk.WhichOneof("part")
            if kind == "header":
                if index != 0:
                    raise InvalidInput.single("header", "the header must be the first message")
                header = chunk.header
            elif kind == "file_chunk":
                if header is None:
                    raise InvalidInput.single("header", "the first message must be the header")
                size += len(chunk.file_chunk.data)
                self._check_size(size)
                parts.setdefault(chunk.file_chunk.name or "unnamed", []).append(
                    chunk.file_chunk.data)
            else:
                raise InvalidInput.single(f"chunks[{index}]", "empty message")
        if header is None:
            raise InvalidInput.single("header", "no header was sent")
        joined = {name: b"".join(data) for name, data in parts.items()}
        files = [DicomSource(name, data) for name, data in joined.items()
                 if not name.lower().endswith(".zip")]
        archives = [data for name, data in joined.items() if name.lower().endswith(".zip")]
        return self._assess(parse_assessment(
            stage_from_proto(header.stage), header.clinical, files, archives, GRPC_FIELDS,
            results_from_proto(header.results),
            subject_from(header.subject_reference, "subject_reference")), context)

    def _assess(self, parsed: Parsed, context: grpc.ServicerContext) -> gateway_pb2.AssessResponse:
        return self._gateway.assess(parsed, api="grpc", client=context.peer(),
                                    deadline_seconds=context.time_remaining()).response

    def _check_size(self, size: int) -> None:
        limit = self._gateway.config.max_upload_bytes
        if size > limit:
            raise InvalidInput.single("dicom_files", f"the upload exceeds the limit of "
                                                     f"{limit / 1e6:g} MB")
