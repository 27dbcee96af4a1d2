"""``cervixai train survival``: the command line of the survival trainer.

Imports no training library until the command runs, so ``cervixai`` starts fast and serving
processes never load scikit-learn. Also runnable as ``python -m cervixai.survival.cli``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cervixai.features.cohort import add_image_feature_options

if TYPE_CHECKING:
    from cervixai.bundle import ModelEntry

FEATURE_SETS = ("paper", "radiomics", "clinical")


def add_train_command(train_subparsers: Any) -> argparse.ArgumentParser:
    """Register ``survival`` under ``cervixai train``."""
    parser: argparse.ArgumentParser = train_subparsers.add_parser(
        "survival", help="train the RFS and OS models, write the report and the ONNX bundle",
        description="Fit the study's time regressors and the censoring-aware models (ridge Cox, "
                    "random survival forest) on a cohort's training split, report Table 4 plus "
                    "Harrell's/Uno's C, IBS and calibration, export the chosen model per outcome "
                    "to ONNX and check parity.")
    parser.add_argument("--cohort", type=Path, required=True, help="a cohort folder")
    parser.add_argument("--out", type=Path, required=True, help="the model bundle to write into")
    parser.add_argument("--eval-cohort", type=Path, default=None,
                        help="score on every patient of this cohort instead of the test split")
    parser.add_argument("--feature-sets", nargs="+", choices=FEATURE_SETS, default=None,
                        help="feature sets to report (default: all the cohort allows)")
    parser.add_argument("--select-feature-set", choices=("radiomics", "clinical"), default=None,
                        help="feature set of the exported models (default: radiomics when the "
                             "cohort has images, else clinical)")
    parser.add_argument("--quick", action="store_true",
                        help="fixed hyperparameters, exported model only (for `make run`)")
    parser.add_argument("--bootstrap", type=int, default=None,
                        help="bootstrap resamples for the 95%% CIs (default 200, 50 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--feature-cache", "--cache-dir", dest="cache_dir", type=Path,
                        default=None,
                        help="where image features are cached per cohort, shared with the "
                             "classifier (default: $XDG_CACHE_HOME/cervixai/features or "
                             "~/.cache/cervixai/features)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes computing image features (default 1)")
    add_image_feature_options(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from cervixai.survival.training.run import TrainOptions, train

    if args.bootstrap is not None and args.bootstrap < 0:
        print(f"error: --bootstrap must be ≥ 0, got {args.bootstrap}", file=sys.stderr)
        return 2
    if not (args.cohort / "clinical.csv").is_file():
        print(f"error: {args.cohort} is not a cohort (no clinical.csv)", file=sys.stderr)
        return 2
    options = TrainOptions(
        cohort=args.cohort, out=args.out, eval_cohort=args.eval_cohort,
        feature_sets=tuple(args.feature_sets) if args.feature_sets else None,
        select_feature_set=args.select_feature_set, quick=args.quick,
        bootstrap=args.bootstrap if args.bootstrap is not None else (50 if args.quick else 200),
        seed=args.seed,
        cache_dir=args.cache_dir or _default_cache(), image_features=args.image_features,
        segmenter_bundle=args.segmenter_bundle, ideal_bound=args.ideal_bound,
        workers=args.workers)
    try:
        result = train(options)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({**result.to_dict(),
                      "models": {e.name.removeprefix("survival."): _figures(e)
                                 for e in result.entries}}, indent=2))
    return 0


def _figures(entry: ModelEntry) -> dict[str, Any]:
    """What the command prints of one written survival entry."""
    regression = entry.parameters.get("regression_model")
    return {"algorithm": entry.algorithm, "feature_set": entry.feature_set,
            "harrell_c": entry.metrics["harrell_c"],
            "evaluated_on": entry.metrics["evaluated_on"],
            "parity_max_abs_risk": entry.metrics["parity_max_abs_risk"],
            "parity_max_abs_survival": entry.metrics["parity_max_abs_survival"],
            "selection": entry.metrics["selection"],
            "regression": regression.get("algorithm") if isinstance(regression, dict) else None}


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cervixai" / "features"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m cervixai.survival.cli")
    add_train_command(parser.add_subparsers(metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
