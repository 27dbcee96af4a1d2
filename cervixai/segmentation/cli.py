"""``cervixai train segmenter``: train the lesion segmenter on a cohort and add it to a bundle.

    cervixai train segmenter --cohort DIR --profile small --out BUNDLE [--loss focal+dice]

Runnable on its own as ``python -m cervixai.segmentation.cli segmenter ...``. torch is imported
only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROFILE_NAMES = ("tiny", "quick", "small", "long", "full")
LOSS_NAMES = ("focal", "focal+dice")


def add_train_command(train_subparsers: Any) -> None:
    """Register ``segmenter`` on the ``cervixai train`` subparsers."""
    p = train_subparsers.add_parser(
        "segmenter", help="train the 3D SE-U-Net lesion segmenter and export it to ONNX",
        description="Train the lesion segmenter on a cohort, export it to ONNX, check "
                    "onnxruntime against torch, score it on the test split (with Otsu's "
                    "threshold beside it) and write the bundle's `segmenter` entry.")
    p.add_argument("--cohort", type=Path, required=True, help="a cohort folder with images")
    p.add_argument("--out", type=Path, required=True, help="the model bundle folder")
    p.add_argument("--profile", choices=PROFILE_NAMES, default="small",
                   help="tiny (tests), quick (`make run`, ~3 min), small (~10 min on 2 CPU "
                        "cores), full (GPU)")
    p.add_argument("--quick", action="store_true", help="same as --profile quick")
    p.add_argument("--loss", choices=LOSS_NAMES, default="focal",
                   help="focal (α=0.25, γ=2, the study's) or focal+dice")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=None,
                   help="where ingested volumes are cached (default: BUNDLE/../.cervixai-cache)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N patients")
    p.add_argument("--max-steps", type=int, default=None, help="override the profile's steps")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop training after this long (the best weights so far are kept)")
    p.add_argument("--channels", type=str, default=None,
                   help="override the widths per level, e.g. 8,16,32,64")
    p.add_argument("--planar-levels", type=int, default=None,
                   help="override how many top levels convolve in plane only (1×3×3)")
    p.add_argument("--ungated-levels", type=int, default=None,
                   help="override how many top levels have no squeeze-and-excitation gate")
    p.add_argument("--device", default="auto",
                   help="where training runs: auto (CUDA when torch sees a GPU, else CPU), cpu, "
                        "cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from cervixai.segmentation.training.profiles import PROFILES
    from cervixai.segmentation.training.run import TrainOptions, train

    if args.threads:
        torch.set_num_threads(args.threads)
    profile = PROFILES["quick" if args.quick else args.profile].with_overrides(
        max_steps=args.max_steps,
        channels=tuple(int(c) for c in args.channels.split(",")) if args.channels else None,
        planar_levels=args.planar_levels, ungated_levels=args.ungated_levels)
    result = train(TrainOptions(
        cohort=args.cohort, out=args.out, profile=profile, loss=args.loss, seed=args.seed,
        cache=args.cache, limit=args.limit,
        max_seconds=args.max_minutes * 60 if args.max_minutes else None,
        progress=not args.no_progress, device=args.device))
    entry = result.entry("segmenter")
    test = entry.metrics["test"]
    print(json.dumps({
        **result.to_dict(), "test_dice": test["dice"], "otsu_dice": test["otsu_dice"],
        "training": {k: v for k, v in entry.metrics["training"].items() if k != "history"},
        "onnx_parity": entry.metrics["onnx_parity"]}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("onnxscript", "torch.onnx", "torch._dynamo", "torch._export"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m cervixai.segmentation.cli")
    add_train_command(parser.add_subparsers(metavar="MODEL", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
