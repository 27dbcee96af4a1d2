"""``cervixai evaluate``: the system's figures, measured through the real serving path."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any


def add_command(sub: Any) -> None:
    """Register ``evaluate`` on the top-level subparsers."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "evaluate", help="measure the served system on a cohort (through the gateway)",
        description="Send every patient of a cohort split as a postoperative study through the "
                    "gateway (HTTP POST /v1/assessments, or gRPC) and report AUC, sensitivity, "
                    "specificity, PPV, NPV, calibration, Harrell's C, integrated Brier score and "
                    "Dice with bootstrap 95 %% CIs, overall and by subgroup "
                    "(docs/evaluation.md).")
    parser.add_argument("--cohort", type=Path, required=True, help="a cohort folder")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--bundle", type=Path,
                        help="start the system from this bundle on free loopback ports")
    target.add_argument("--gateway", metavar="URL",
                        help="a running gateway's HTTP base URL (http://127.0.0.1:8080)")
    parser.add_argument("--grpc", metavar="ADDRESS", nargs="?", const="local",
                        help="use the gateway's gRPC API: a running gateway's address, or with "
                             "--bundle no value (the started gateway's)")
    parser.add_argument("--split", choices=["test", "train", "all"], default="test")
    parser.add_argument("--out", type=Path, default=Path("evaluation"),
                        help="report folder (default ./evaluation)")
    parser.add_argument("--limit", type=int, default=None, help="at most N patients")
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--record", action="store_true",
                        help="write the figures into the bundle's manifest (metrics.served)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cervixai.bundle import BundleError
    from cervixai.evaluate.api import evaluate
    from cervixai.evaluate.record import record_served

    if args.record and args.bundle is None:
        print("error: --record needs --bundle (the bundle whose manifest is written)",
              file=sys.stderr)
        return 2
    if args.grpc == "local" and args.bundle is None:
        print("error: --grpc needs an ADDRESS unless --bundle starts the system",
              file=sys.stderr)
        return 2
    if args.gateway and args.grpc:
        print("error: give --gateway URL or --grpc ADDRESS, not both", file=sys.stderr)
        return 2
    if args.concurrency < 1 or args.bootstrap < 0:
        print("error: --concurrency must be ≥ 1 and --bootstrap ≥ 0", file=sys.stderr)
        return 2
    command = "cervixai " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if sys.argv[1:2] == ["evaluate"] else ""
    try:
        evaluation = evaluate(args.cohort, bundle=args.bundle, gateway=args.gateway,
                              grpc=args.grpc, split=args.split, limit=args.limit,
                              concurrency=args.concurrency, timeout_seconds=args.timeout,
                              bootstrap=args.bootstrap, seed=args.seed,
                              logs=args.out / "logs" if args.bundle else None,
                              command=command)
    except (ValueError, FileNotFoundError, RuntimeError, BundleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    written = evaluation.write(args.out)
    summary = evaluation.to_json()
    print(f"{summary['source']}: {summary['patients']['served']} served, "
          f"{summary['patients']['failed']} failed")
    for task, s in summary["classification"].items():
        auc = s["auc"]["value"]
        print(f"  {task:<24} AUC {'–' if auc is None else f'{auc:.3f}'}  "
              f"({s['positives']} positives of {s['patients']})")
    for outcome, s in summary["survival"].items():
        c = s["c_index"]["value"]
        print(f"  {outcome.upper():<24} C {'–' if c is None else f'{c:.3f}'}  "
              f"({s['events']} events of {s['patients']})")
    dice = summary["segmentation"]["dice_mean"]["value"]
    print(f"  {'segmenter':<24} Dice {'–' if dice is None else f'{dice:.3f}'}  "
          f"({summary['segmentation']['patients']} patients)")
    print(f"report: {written[1]} (and {len(written) - 1} more files in {args.out})")
    if args.record:
        try:
            record_served(args.bundle, evaluation)
        except BundleError as e:
            print(f"error: not recorded: {e}", file=sys.stderr)
            return 1
        print(f"recorded metrics.served in {args.bundle / 'manifest.json'}")
    return 1 if summary["patients"]["failed"] else 0
