"""The ``cervixai`` command.

    cervixai up                          start the system on loopback (what `make run` calls)
    cervixai assess --stage S --clinical record.json SERIES   assess one study via the gateway
    cervixai train segmenter|classifier|survival --cohort DIR --out BUNDLE
    cervixai ingest PATH [--json]        read a DICOM series (folder, file or zip) and describe it
    cervixai clinical validate FILE --stage preoperative|postoperative
    cervixai clinical schema [--markdown]
    cervixai cohort synth|check|preview|oracle ...
    cervixai version
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cervixai import __version__
from cervixai.errors import InvalidInput
from cervixai.service.logs import configure_logging

# Modules that register a `cervixai train NAME` command (imported only to build the parser;
# each imports its training libraries lazily).
TRAINERS = ("cervixai.segmentation.cli", "cervixai.classification.cli", "cervixai.survival.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging("cervixai", os.environ.get("CERVIXAI_LOG_LEVEL", "INFO"), json_lines=False)
    # One line per request (httpx) or per copied DICOM module (highdicom) is noise here.
    for chatty in ("httpx", "highdicom"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except InvalidInput as e:
        print("error: the input is not valid:", file=sys.stderr)
        for v in e.violations:
            print(f"  {v.field}: {v.description}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cervixai", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(metavar="COMMAND")

    from cervixai.client import add_command as add_assess_command
    from cervixai.launcher import add_command as add_up_command

    add_up_command(sub)
    add_assess_command(sub)
    from cervixai.modelcard import add_command as add_model_card_command

    add_model_card_command(sub)
    train = sub.add_parser("train", help="train models into a bundle").add_subparsers(
        metavar="MODEL")
    for module in TRAINERS:
        importlib.import_module(module).add_train_command(train)

    ingest = sub.add_parser("ingest", help="read one DICOM series and describe it")
    ingest.add_argument("path", type=Path, help="a folder, a .dcm file or a .zip archive")
    ingest.add_argument("--json", action="store_true", help="machine-readable output")
    ingest.add_argument("--strict", action="store_true",
                        help="fail when several image series are present instead of picking one")
    ingest.set_defaults(func=_cmd_ingest)

    clinical = sub.add_parser("clinical", help="the clinical schema").add_subparsers(
        metavar="ACTION")
    validate = clinical.add_parser("validate", help="check a clinical record (JSON)")
    validate.add_argument("file", help="a JSON file, or - for standard input")
    validate.add_argument("--stage", required=True, choices=["preoperative", "postoperative"])
    validate.set_defaults(func=_cmd_validate)
    schema = clinical.add_parser("schema", help="print every variable of the schema")
    schema.add_argument("--markdown", action="store_true")
    schema.set_defaults(func=_cmd_schema)

    from cervixai.cohort.cli import add_commands as add_cohort_commands

    add_cohort_commands(sub)
    importlib.import_module("cervixai.evaluate.cli").add_command(sub)

    listener = sub.add_parser("dicom-listener", help="receive studies from the PACS by DICOM, "
                              "have them assessed, send the results back (docs/pacs.md)")
    listener.set_defaults(func=lambda args: importlib.import_module("listener.__main__").main([]))

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=lambda args: print(__version__) or 0)
    return parser


def _cmd_ingest(args: argparse.Namespace) -> int:
    from cervixai.dicom import IngestOptions, load_series_from_path

    series = load_series_from_path(args.path,
                                   options=IngestOptions(strict_single_series=args.strict))
    summary = describe_series(series)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            if key != "warnings":
                print(f"{key:>22}: {value}")
        for warning in summary["warnings"]:
            print(f"{'warning':>22}: {warning}")
    return 0


def describe_series(series: Any) -> dict[str, Any]:
    """A JSON-ready, non-identifying description of an ingested series."""
    info = series.info
    geometry = series.geometry
    fields = getattr(info, "__dataclass_fields__", {})
    described: dict[str, Any] = {name: _jsonable(getattr(info, name)) for name in fields}
    described["volume_shape"] = list(series.volume.shape)
    described["spacing_mm"] = [round(s, 4) for s in geometry.spacing_mm]
    described["warnings"] = list(series.warnings)
    return described


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def _cmd_validate(args: argparse.Namespace) -> int:
    from cervixai.clinical import Stage, validate_record

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        print(f"error: {args.file} is not JSON: {e}", file=sys.stderr)
        return 1
    if not isinstance(raw, dict):
        print(f"error: {args.file} must hold one JSON object", file=sys.stderr)
        return 1
    validate_record(raw, Stage(args.stage))
    print(f"valid {args.stage} record: {len(raw)} variables given")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from cervixai.clinical.docs import schema_markdown, schema_rows

    if args.markdown:
        print(schema_markdown())
    else:
        for row in schema_rows():
            print("  ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
