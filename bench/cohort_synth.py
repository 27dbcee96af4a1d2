"""Benchmark of the synthetic cohort generator.

    python bench/cohort_synth.py [--n 250] [--workers 2]

Prints, from one run: the wall time of a full cohort against the 120 s objective, and for a
sample of patients the share of time spent rendering, writing the MR series and writing the SEG.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from cervixai.cohort.masks import write_seg
from cervixai.cohort.synth import synthesize
from cervixai.cohort.synth.image import render
from cervixai.dicom.writer import series_datasets

OBJECTIVE_SECONDS = 120.0


def stage_split(samples: int, out: Path) -> dict[str, float]:
    rng = np.random.default_rng(0)
    totals = {"render": 0.0, "series": 0.0, "seg": 0.0}
    for i in range(samples):
        matrix = 256 if i % 2 else 320
        t0 = time.perf_counter()
        r = render(rng, tumor_size_cm=3.0, heterogeneity=0.0, irregularity=0.0, matrix=matrix,
                   pixel_mm=0.8, slice_mm=5.0, slices=24)
        t1 = time.perf_counter()
        datasets = series_datasets(r.volume, spacing_mm=(5.0, 0.8, 0.8),
                                   origin_mm=r.grid.origin_mm)
        folder = out / f"p{i}"
        folder.mkdir()
        for k, ds in enumerate(datasets):
            ds.save_as(folder / f"{k}.dcm", enforce_file_format=True)
        t2 = time.perf_counter()
        write_seg(r.mask, datasets, folder / "seg.dcm")
        t3 = time.perf_counter()
        totals["render"] += t1 - t0
        totals["series"] += t2 - t1
        totals["seg"] += t3 - t2
    return {k: v / samples for k, v in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=250)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--samples", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        split = stage_split(args.samples, Path(tmp))
        start = time.perf_counter()
        synthesize(Path(tmp) / "cohort", args.n, seed=0, workers=args.workers)
        wall = time.perf_counter() - start
    per_patient = sum(split.values())
    print(f"cores: {os.cpu_count()}, workers: {args.workers}")
    print(f"{'stage':<10}{'s/patient':>12}{'share':>8}")
    for name, seconds in split.items():
        print(f"{name:<10}{seconds:>12.3f}{seconds / per_patient:>8.0%}")
    print(f"{args.n} patients: {wall:.1f} s wall, {wall / args.n:.3f} s/patient; "
          f"objective {OBJECTIVE_SECONDS:.0f} s -> {wall / OBJECTIVE_SECONDS:.2f}x of it")


if __name__ == "__main__":
    main()
