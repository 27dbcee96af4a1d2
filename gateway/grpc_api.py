"""The gateway's gRPC servicer: cervix.v1.Gateway (Assess and AssessStream)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from cervix.v1 import gateway_pb2, gateway_pb2_grpc
from cervixai.dicom import DicomSource
from cervixai.errors import InvalidInput
from gateway.pipeline import AssessmentInput
from gateway.service import Gateway


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def Assess(self, request: gateway_pb2.AssessRequest,
               context: grpc.ServicerContext) -> gateway_pb2.AssessResponse:
        files = [DicomSource(f.name or f"file-{i}", f.data)
                 for i, f in enumerate(request.dicom_files)]
        size = sum(len(f.data) for f in files) + len(request.dicom_zip)
        self._check_size(size)
        job = AssessmentInput(request.stage, request.clinical, files, request.dicom_zip)
        return self._gateway.assess(job, api="grpc", client=context.peer(),
                                    deadline_seconds=context.time_remaining()).response

    def AssessStream(self, request_iterator: Iterator[gateway_pb2.AssessChunk],
                     context: grpc.ServicerContext) -> gateway_pb2.AssessResponse:
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
                name = chunk.file_chunk.name or "unnamed"
                size += len(chunk.file_chunk.data)
                self._check_size(size)
                parts.setdefault(name, []).append(chunk.file_chunk.data)
            else:
                raise InvalidInput.single(f"chunks[{index}]", "empty message")
        if header is None:
            raise InvalidInput.single("header", "no header was sent")
        zips = [name for name in parts if name.lower().endswith(".zip")]
        if zips and len(parts) > 1:
            raise InvalidInput.single("file_chunk", "send DICOM files or one zip, not both")
        if zips:
            job = AssessmentInput(header.stage, header.clinical, (), b"".join(parts[zips[0]]))
        else:
            files = [DicomSource(name, b"".join(data)) for name, data in parts.items()]
            job = AssessmentInput(header.stage, header.clinical, files)
        return self._gateway.assess(job, api="grpc", client=context.peer(),
                                    deadline_seconds=context.time_remaining()).response

    def _check_size(self, size: int) -> None:
        limit = self._gateway.config.max_upload_bytes
        if size > limit:
            raise InvalidInput.single("dicom_files", f"the upload exceeds the limit of "
                                                     f"{limit / 1e6:g} MB")
