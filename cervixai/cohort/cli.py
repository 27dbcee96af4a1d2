"""``cervixai cohort``: synth, check, preview and oracle."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    """Register ``cohort`` and its actions on the top-level subparsers."""
    cohort = sub.add_parser("cohort", help="cohort folders: generate, check, preview")
    actions = cohort.add_subparsers(metavar="ACTION")

    synth = actions.add_parser("synth", help="generate a synthetic cohort with a known truth")
    synth.add_argument("--n", type=int, default=250, help="patients (default 250)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", type=Path, required=True, help="a new folder")
    synth.add_argument("--no-images", action="store_true",
                       help="clinical, outcome and oracle files only (fast)")
    synth.add_argument("--workers", type=int, default=None, help="render processes (default: "
                       "one per core)")
    synth.set_defaults(func=_synth)

    check = actions.add_parser("check", help="validate a cohort folder and list every problem")
    check.add_argument("dir", type=Path)
    check.add_argument("--stage", choices=["preoperative", "postoperative"],
                       default="postoperative", help="the clinical variables required")
    check.add_argument("--no-images", action="store_true", help="skip the DICOM and mask checks")
    check.set_defaults(func=_check)

    preview = actions.add_parser("preview", help="PNG slices with the true lesion outlined")
    preview.add_argument("dir", type=Path)
    preview.add_argument("--out", type=Path, required=True)
    preview.add_argument("--patients", type=int, default=4)
    preview.set_defaults(func=_preview)

    oracle = actions.add_parser("oracle", help="how well the true model scores (synthetic only)")
    oracle.add_argument("dir", type=Path)
    oracle.add_argument("--json", action="store_true")
    oracle.set_defaults(func=_oracle)


def _bar(description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=description, unit="patient", file=sys.stderr)
        bar["bar"].update(done - bar["bar"].n)

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def _synth(args: argparse.Namespace) -> int:
    from cervixai.cohort.synth import synthesize

    update, close = _bar("rendering")
    try:
        manifest = synthesize(args.out, args.n, args.seed, images=not args.no_images,
                              workers=args.workers, progress=update)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        close()
    events = ", ".join(f"{k} {v}" for k, v in manifest["events"].items())  # type: ignore[attr-defined]
    print(f"wrote {args.n} patients to {args.out} (seed {args.seed}); events: {events}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from cervixai.clinical.schema import Stage
    from cervixai.cohort.check import check_cohort

    update, close = _bar("checking images")
    try:
        problems = check_cohort(args.dir, stage=Stage(args.stage), images=not args.no_images,
                                progress=update)
    finally:
        close()
    for problem in problems:
        print(problem)
    errors = [p for p in problems if p.severity == "error"]
    notes = len(problems) - len(errors)
    if errors:
        print(f"{len(errors)} problem(s) and {notes} note(s) in {args.dir}", file=sys.stderr)
        return 1
    print(f"{args.dir}: no problems found ({notes} note(s))")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from cervixai.cohort.preview import preview

    for path in preview(args.dir, args.out, patients=args.patients):
        print(path)
    return 0


def _oracle(args: argparse.Namespace) -> int:
    from cervixai.cohort.oracle import oracle_figures

    figures = oracle_figures(args.dir)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    for name, values in figures.items():
        shown = ", ".join(f"{k} {v:.3f}" for k, v in values.items())
        print(f"{name:>22}: {shown}")
    return 0
