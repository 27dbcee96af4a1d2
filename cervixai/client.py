"""``cervixai assess``: the command-line client of the gateway's gRPC API.

    cervixai assess --stage postoperative --clinical record.json SERIES_DIR_OR_ZIP
                    [--gateway 127.0.0.1:50050] [--json] [--timeout 300]
                    [--out DIR [--results dicom-seg,dicom-sr,fhir] [--subject Patient/123]]

The series is streamed in chunks (Gateway.AssessStream), so its size is bounded only by the
gateway's upload limit. The record is a JSON object of clinical variables (see
``cervixai clinical schema``); it is validated here first, with the gateway's own rules.

With ``--out`` the gateway also returns result objects a hospital files (docs/results.md) —
all three by default, or those ``--results`` names — and they are written into DIR as
``segmentation.dcm`` (DICOM SEG), ``report.dcm`` (DICOM SR) and ``bundle.json`` (FHIR R4
Bundle, its subject ``--subject``). They identify the patient, as the source series does.
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
# the result kinds (cervixai.results.KINDS) as the gateway's enum, and their file names
RESULT_KINDS = {"dicom-seg": gateway_pb2.RESULT_KIND_DICOM_SEG,
                "dicom-sr": gateway_pb2.RESULT_KIND_DICOM_SR,
                "fhir": gateway_pb2.RESULT_KIND_FHIR}
RESULT_FILES = {gateway_pb2.RESULT_KIND_DICOM_SEG: "segmentation.dcm",
                gateway_pb2.RESULT_KIND_DICOM_SR: "report.dcm",
                gateway_pb2.RESULT_KIND_FHIR: "bundle.json"}


def result_kinds(text: str) -> list[str]:
    """``--results``: comma-separated kinds, checked here (argparse reports a bad one)."""
    kinds = [w.strip().lower() for w in text.split(",") if w.strip()]
    unknown = [k for k in kinds if k not in RESULT_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(RESULT_KINDS)}, got "
                                         f"{text!r}")
    return list(dict.fromkeys(kinds))


def add_command(sub: Any) -> None:
    assess = sub.add_parser("assess", help="assess one study through a running gateway")
    assess.add_argument("path", type=Path, help="a folder of DICOM files, one file, or a .zip")
    assess.add_argument("--stage", required=True, choices=list(STAGES))
    assess.add_argument("--clinical", type=Path, required=True, help="JSON clinical record")
    assess.add_argument("--gateway", default="127.0.0.1:50050", help="gRPC address")
    assess.add_argument("--timeout", type=float, default=300.0, help="seconds")
    assess.add_argument("--json", action="store_true", help="print the full result as JSON")
    assess.add_argument("--out", type=Path, metavar="DIR",
                        help="write the result objects (DICOM SEG, DICOM SR, FHIR Bundle) into "
                             "DIR: segmentation.dcm, report.dcm, bundle.json")
    assess.add_argument("--results", type=result_kinds, metavar="KINDS",
                        help=f"with --out: which result objects, comma-separated "
                             f"({','.join(RESULT_KINDS)}; default all three)")
    assess.add_argument("--subject", default="", metavar="REFERENCE",
                        help="with --out: the FHIR Bundle's subject, e.g. Patient/123 (default: "
                             "a placeholder the receiving system replaces)")
    assess.set_defaults(func=run)


def _chunks(header: gateway_pb2.AssessHeader, path: Path) -> Iterator[gateway_pb2.AssessChunk]:
    yield gateway_pb2.AssessChunk(header=header)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        name = file.name if path.is_file() else str(file.relative_to(path))
        with file.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield gateway_pb2.AssessChunk(
                    file_chunk=gateway_pb2.DicomFileChunk(name=name, data=chunk))


def run(args: argparse.Namespace) -> int:
    from cervixai.launcher import format_result

    if args.out is None and (args.results or args.subject):
        print("error: --results and --subject need --out DIR (where the objects are written)",
              file=sys.stderr)
        return 2
    raw = json.loads(args.clinical.read_text())
    record = record_to_proto(validate_record(raw, Stage(args.stage)))
    if not args.path.exists():
        print(f"error: {args.path} does not exist", file=sys.stderr)
        return 1
    kinds = (args.results or list(RESULT_KINDS)) if args.out is not None else []
    header = gateway_pb2.AssessHeader(stage=STAGES[args.stage], clinical=record,
                                      results=[RESULT_KINDS[k] for k in kinds],
                                      subject_reference=args.subject)
    with grpc.insecure_channel(args.gateway,
                               options=channel_options(DEFAULT_MAX_MESSAGE_BYTES)) as channel:
        stub: Any = gateway_pb2_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
        try:
            reply = stub.AssessStream(_chunks(header, args.path), timeout=args.timeout)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            for v in violations_from_error(e):
                print(f"  {v.field}: {v.description}", file=sys.stderr)
            return 1
    written = write_results(reply, args.out) if args.out is not None else []
    # the objects are in their files; the printed result names them instead of repeating them
    objects = list(reply.result_objects)
    del reply.result_objects[:]
    result = MessageToDict(reply, preserving_proto_field_name=True,
                           always_print_fields_with_no_presence=True)
    if written:
        result["result_objects"] = [
            {"kind": gateway_pb2.ResultKind.Name(o.kind), "media_type": o.media_type,
             "filename": path.name, "path": str(path), "bytes": len(o.content)}
            for o, path in zip(objects, written, strict=True)]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"assessment {result['request_id']} ({args.stage})")
        print(format_result(result))
    if written:
        # on stderr with --json, so that stdout stays one JSON document
        print(f"wrote {', '.join(p.name for p in written)} to {args.out}",
              file=sys.stderr if args.json else sys.stdout)
    return 0


def write_results(reply: gateway_pb2.AssessResponse, out: Path) -> list[Path]:
    """Write each result object of ``reply`` into ``out`` (created if need be), named after
    its kind; returns the paths in the reply's order."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for o in reply.result_objects:
        # the file name is the client's own, never a path the server chose
        path = out / RESULT_FILES.get(o.kind, Path(o.filename).name or f"result-{o.kind}")
        path.write_bytes(o.content)
        paths.append(path)
    return paths
