"""Training study of the segmenter: several training configurations on one cohort, side by side.

    python bench/segmenter_study.py --cohort DIR [--variants small,small-focal+dice,...]
        [--seeds 0,1,2] [--device auto|cpu|cuda] [--parallel N] [--json OUT]

Each variant is a profile with overrides and a loss (VARIANTS below). Every variant trains once
per seed, on the training/validation split ``cervixai train segmenter --seed`` makes, then is
scored as that command scores it: threshold and largest-component rule chosen on the validation
patients, Dice on the test split. Probabilities come from the torch network on the training
device (not from the exported graph; the two agree within the export's parity tolerance).

On a GPU the `small` profile's 900 steps take a minute rather than ten CPU-minutes, so this is
the quick way to ask which configuration reaches a target before spending the CPU time;
results on CPU and GPU differ only by floating-point rounding along the way. Prints one row per
variant (validation and test Dice, zero-Dice test patients, steps, seconds) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The `small` and `full` shapes before 2026-11-27 (one planar level, every level gated; `small`
# 600 steps): the earlier study rows in docs/segmenter.md were measured on them.
P1_600 = {"planar_levels": 1, "ungated_levels": 0, "max_steps": 600, "eval_every": 100}
ISOTROPIC = {"planar_levels": 0, "ungated_levels": 0}


def _p1(loss: str = "focal", **overrides: Any) -> tuple[str, str, dict[str, Any]]:
    return ("small", loss, {**P1_600, **overrides})


# name → (base profile, loss, profile overrides). Costs are per CPU step relative to `small-p1`.
VARIANTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "tiny": ("tiny", "focal", {}),                                                  # smoke test
    # The profiles as they are now: `small` is two planar levels, an ungated first level and 900
    # steps (0.65× `small-p1`'s CPU step, so the same CPU time); `full` is two planar levels and
    # an ungated first level (served at ≥ 70 % of the CPU's matmul rate).
    "small": ("small", "focal", {}),
    "full": ("full", "focal", {}),
    "small-p1": _p1(),
    "small-focal+dice": _p1("focal+dice"),
    "small-lr1e-3": _p1(learning_rate=1e-3),
    "small-lr1e-2": _p1(learning_rate=1e-2),
    "small-lesion0.5": _p1(lesion_share=0.5),
    "small-crop128": _p1(crop=(16, 128, 128), batch=1),                             # 0.9×
    "small-crop8x128": _p1(crop=(8, 128, 128)),                                     # 0.9×
    "small-5levels": _p1(channels=(8, 16, 32, 64, 128)),
    "small-2x": _p1(max_steps=1200),
    "small-4x": _p1(max_steps=2400, patience=6),
    "small-4x-focal+dice": _p1("focal+dice", max_steps=2400, patience=6),
    "small-focal+dice-lr1e-3": _p1("focal+dice", learning_rate=1e-3),
    "small-crop128-focal+dice": _p1("focal+dice", crop=(16, 128, 128), batch=1),
    "full-3000": ("full", "focal", {**ISOTROPIC, "max_steps": 3000}),
    "small-lr5e-3": _p1(learning_rate=5e-3),
    "small-lr2e-2": _p1(learning_rate=2e-2),
    "small-lr1e-2-patient": _p1(learning_rate=1e-2, patience=6),
    "small-lr1e-2-focal+dice": _p1("focal+dice", learning_rate=1e-2, patience=6),
    "small-lr1e-2-crop128": _p1(learning_rate=1e-2, patience=6, crop=(16, 128, 128), batch=1),
    "small-lr1e-2-5levels": _p1(learning_rate=1e-2, patience=6, channels=(8, 16, 32, 64, 128)),
    "small-lr1e-2-2x": _p1(learning_rate=1e-2, patience=6, max_steps=1200),
    "small-lr1e-2-batch4": _p1(learning_rate=1e-2, patience=6, batch=4),
    # No squeeze-and-excitation gate at the full-resolution level.
    "small-ungated1": _p1(ungated_levels=1),
    # The reference width on `small`'s crops: 2.2–2.5× the CPU step, so 400 steps.
    "wide-p2u1-400": _p1(channels=(16, 32, 64, 128), planar_levels=2, ungated_levels=1,
                         max_steps=400),
}


def run_variant(cohort: str, cache: str, name: str, device: str, seed: int,
                limit: int | None, max_seconds: float | None) -> dict[str, Any]:
    """Train one variant and score it as ``cervixai train segmenter`` does."""
    import numpy as np

    from cervixai.segmentation.training.data import load_cohort
    from cervixai.segmentation.training.loop import predict_volume, train
    from cervixai.segmentation.training.profiles import PROFILES
    from cervixai.segmentation.training.run import (
        choose_postprocessing,
        score,
        split_validation,
    )

    base, loss, overrides = VARIANTS[name]
    profile = PROFILES[base].with_overrides(**overrides)
    cases = load_cohort(Path(cohort), Path(cache), limit=limit, workers=1)
    training, validation = split_validation([c for c in cases if c.split == "train"], 0.15, seed)
    test = [c for c in cases if c.split == "test"]
    result = train(training, validation, profile, loss=loss, seed=seed, progress=False,
                   device=device, max_seconds=max_seconds)
    network = result.network
    if device != "cpu":
        from cervixai.segmentation.training.loop import resolve_device

        network = network.to(resolve_device(device))

    def probabilities(volume: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return predict_volume(network, volume)

    threshold, keep, validation_dice = choose_postprocessing(
        [probabilities(c.volume) for c in validation], validation)
    figures = score(probabilities, test, threshold, keep)
    per_patient = figures["per_patient_dice"].values()
    return {
        "variant": name, "seed": seed, "profile": profile.as_dict(), "loss": loss,
        "device": result.device,
        "steps": result.steps, "best_step": result.best_step, "stopped": result.stopped,
        "seconds": round(result.seconds, 1),
        "validation_dice_during_training": round(result.best_validation_dice, 4),
        "validation_dice": round(validation_dice, 4), "threshold": threshold,
        "largest_component": keep, "test_dice": figures["dice"],
        "test_zero_dice_patients": sum(1 for d in per_patient if d == 0.0),
        "otsu_dice": figures["otsu_dice"], "history": result.history,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path(".cervixai-cache/segmenter"))
    parser.add_argument("--variants", default="small,small-focal+dice",
                        help=f"comma-separated, or 'all': {', '.join(VARIANTS)}")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--parallel", type=int, default=1,
                        help="variants trained at once (processes sharing the device)")
    parser.add_argument("--seeds", default="0",
                        help="comma-separated: every variant trains once per seed")
    parser.add_argument("--limit", type=int, default=None, help="first N patients only")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="training time limit per variant")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")

    from cervixai.segmentation.training.data import load_cohort

    start = time.perf_counter()
    load_cohort(args.cohort, args.cache, limit=args.limit)  # ingest once, before the workers
    print(f"cohort ingested in {time.perf_counter() - start:.0f} s", flush=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(str(args.cohort), str(args.cache), n, args.device, seed, args.limit,
             args.max_minutes * 60 if args.max_minutes else None)
            for seed in seeds for n in names]
    results: list[dict[str, Any]] = []
    print(f"{'variant':<22} {'val Dice':>8} {'test Dice (95% CI)':>24} {'median':>7} {'zeros':>5} "
          f"{'thr':>4} {'LCC':>4} {'steps':>6} {'best':>5} {'s':>6}", flush=True)
    # spawn: CUDA cannot be used in a forked child.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.parallel, mp_context=context) as pool:
        futures = {pool.submit(run_variant, *job): f"{job[2]}@{job[4]}" for job in jobs}
        for future in as_completed(futures):
            try:
                r = future.result()
            except Exception as e:  # report it and go on with the other variants
                print(f"{futures[future]:<22} failed: {type(e).__name__}: {e}", flush=True)
                continue
            results.append(r)
            d = r["test_dice"]
            print(f"{r['variant'] + '@' + str(r['seed']):<22} {r['validation_dice']:>8.3f} "
                  f"{d['mean']:>8.3f} ({d['ci95'][0]:.3f}–{d['ci95'][1]:.3f}) "
                  f"{d['median']:>7.3f} {r['test_zero_dice_patients']:>5} "
                  f"{r['threshold']:>4.2f} {'yes' if r['largest_component'] else 'no':>4} "
                  f"{r['steps']:>6} {r['best_step']:>5} {r['seconds']:>6.0f}", flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
    if len(seeds) > 1:
        print(f"\n{'variant':<22} {'seeds':>5} {'mean test Dice':>14} {'range':>13} {'zeros':>5}")
        for name in names:
            dice = [r["test_dice"]["mean"] for r in results if r["variant"] == name]
            zeros = [r["test_zero_dice_patients"] for r in results if r["variant"] == name]
            if dice:
                print(f"{name:<22} {len(dice):>5} {sum(dice) / len(dice):>14.3f} "
                      f"{min(dice):.3f}–{max(dice):.3f} {sum(zeros) / len(zeros):>5.1f}")
    print(f"device: {results[0]['device'] if results else '-'}; "
          f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
