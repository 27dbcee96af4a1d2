"""``cervixai assess``: the command-line client of the gateway's gRPC API.

    cervixai assess --stage postoperative --clinical record.json SERIES_DIR_OR_ZIP
                    [--gateway 127.0.0.1:50050] [--json] [--timeout 300]

The series is streamed in chunks (Gateway.AssessStream), so its size is bounded only by the
gateway's upload limit. The record is a JSON object of clinical variables (see
``cervixai clinical schema``); it is validated here first, with the gateway's own rules.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from cervixai.service import DEFAULT_MAX_MESSAGE_BYTES, channel_options, violations_from_error

CHUNK_BYTES = 2 * 1024 * 1024
STAGES = {"preoperative": common_pb2.STAGE_PREOPERATIVE,
          "postoperative": common_pb2.STAGE_POSTOPERATIVE}


def add_command(sub: Any) -> None:
    assess = sub.add_parser("assess", help="assess one study through a running gateway")
    assess.add_argument("path", type=Path, help="a folder of DICOM files, one file, or a .zip")
    assess.add_argument("--stage", required=True, choices=list(STAGES))
    assess.add_argument("--clinical", type=Path, required=True, help="JSON clinical record")
    assess.add_argument("--gateway", default="127.0.0.1:50050", help="gRPC address")
    assess.add_argument("--timeout", type=float, default=300.0, help="seconds")
    assess.add_argument("--json", action="store_true", help="print the full result as JSON")
    assess.set_defaults(func=run)


def _chunks(stage: Any, record: Any, path: Path) -> Iterator[gateway_pb2.AssessChunk]:
    yield gateway_pb2.AssessChunk(header=gateway_pb2.AssessHeader(stage=stage, clinical=record))
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        name = file.name if path.is_file() else str(file.relative_to(path))
        with file.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield gateway_pb2.AssessChunk(
                    file_chunk=gateway_pb2.DicomFileChunk(name=name, data=chunk))


def run(args: argparse.Namespace) -> int:
    from cervixai.launcher import format_result

    raw = json.loads(args.clinical.read_text())
    record = record_to_proto(validate_record(raw, Stage(args.stage)))
    if not args.path.exists():
        print(f"error: {args.path} does not exist", file=sys.stderr)
        return 1
    with grpc.insecure_channel(args.gateway,
                               options=channel_options(DEFAULT_MAX_MESSAGE_BYTES)) as channel:
        stub: Any = gateway_pb2_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
        try:
            reply = stub.AssessStream(_chunks(STAGES[args.stage], record, args.path),
                                      timeout=args.timeout)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            for v in violations_from_error(e):
                print(f"  {v.field}: {v.description}", file=sys.stderr)
            return 1
    result = MessageToDict(reply, preserving_proto_field_name=True,
                           always_print_fields_with_no_presence=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"assessment {result['request_id']} ({args.stage})")
        print(format_result(result))
    return 0
