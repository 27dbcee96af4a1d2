"""``cervixai train classifier``: argument parsing only; the training code is imported when the
command runs (serving code never loads scikit-learn)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cervixai.cohort.format import TASKS
from cervixai.features import FEATURE_SETS
from cervixai.features.cohort import add_image_feature_options

ALGORITHM_NAMES = ("knn", "svm", "decision_tree", "random_forest", "balanced_random_forest",
                   "weighted_decision_tree", "weighted_knn", "logistic_regression")


def _names(allowed: Sequence[str]) -> Any:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(allowed)}")
        return names
    return parse


def add_train_command(train_subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train classifier`` on the ``cervixai train`` subparsers."""
    parser: argparse.ArgumentParser = train_subparsers.add_parser(
        "classifier", help="train the four risk classifiers and write the report",
        description="Train every algorithm × task × feature set on a cohort, write the report "
                    "(BUNDLE/reports/classifier.md and .csv), export the chosen model per task "
                    "to ONNX and record it in BUNDLE/manifest.json.")
    parser.add_argument("--cohort", type=Path, required=True, help="a cohort folder")
    parser.add_argument("--out", type=Path, required=True, help="the model bundle folder")
    parser.add_argument("--quick", action="store_true",
                        help="fast default-bundle profile: logistic regression, balanced random "
                             "forest, weighted KNN on radiomics and clinical features, small grids")
    parser.add_argument("--algorithms", type=_names(ALGORITHM_NAMES),
                        help="comma-separated subset (default: all eight)")
    parser.add_argument("--feature-sets", type=_names(FEATURE_SETS),
                        help=f"comma-separated subset of {', '.join(FEATURE_SETS)}")
    parser.add_argument("--tasks", type=_names(TASKS), help="comma-separated subset of tasks")
    parser.add_argument("--downsample", action=argparse.BooleanOptionalAction, default=False,
                        help="downsample negatives 1:1 for training, as the study did (default: "
                             "off, every training patient is used)")
    parser.add_argument("--target-sensitivity", type=float, default=0.80,
                        help="sensitivity the operating threshold is chosen for (default 0.80)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, help="bootstrap resamples for CIs "
                        "(default 1000, quick 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-cohort", type=Path,
                        help="also score the chosen models (ONNX) on this whole cohort")
    parser.add_argument("--feature-cache", type=Path,
                        help="folder of the image-feature cache (default: beside the cohort)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes computing image features (default 1)")
    add_image_feature_options(parser)
    parser.set_defaults(func=run_train_command)
    return parser


def run_train_command(args: argparse.Namespace) -> int:
    from cervixai.classification.training.protocol import Protocol
    from cervixai.classification.training.run import TrainOptions, train
    from cervixai.features.cohort import FeatureSourceError

    if not (args.cohort / "clinical.csv").is_file():
        print(f"error: {args.cohort} is not a cohort folder (no clinical.csv)", file=sys.stderr)
        return 2
    protocol = Protocol(folds=args.folds, downsample=args.downsample,
                        target_sensitivity=args.target_sensitivity, seed=args.seed,
                        quick=args.quick)
    overrides: dict[str, Any] = {"protocol": protocol, "eval_cohort": args.eval_cohort,
                                 "cache_dir": args.feature_cache, "workers": args.workers,
                                 "command": _command_line(getattr(args, "argv", None)),
                                 "image_features": args.image_features,
                                 "segmenter_bundle": args.segmenter_bundle,
                                 "ideal_bound": args.ideal_bound}
    for name in ("algorithms", "feature_sets", "tasks", "bootstrap"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    options = (TrainOptions.quick(args.cohort, args.out, **overrides) if args.quick
               else TrainOptions(args.cohort, args.out, **overrides))
    try:
        result = train(options)
    except FeatureSourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for why in result.skipped.values():
        print(f"skipped {why}", file=sys.stderr)
    for entry in result.entries:
        auc = entry.metrics["auc"]["value"]
        print(f"{entry.name}: {entry.algorithm} on {entry.feature_set} features, CV AUC "
              f"{entry.metrics['cv_auc']:.3f}, test AUC "
              f"{float('nan') if auc is None else auc:.3f}, threshold {entry.threshold:.3f}")
    print(f"report: {result.reports[0]}")
    return 0 if result.entries else 1


def _command_line(argv: Sequence[str] | None) -> str:
    words = list(sys.argv[1:] if argv is None else argv)
    rest = words[words.index("classifier") + 1:] if "classifier" in words else words
    return "cervixai train classifier " + shlex.join(rest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cervixai.classification.cli")
    sub = parser.add_subparsers(metavar="COMMAND", required=True)
    add_train_command(sub)
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
