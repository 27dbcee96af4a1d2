"""Reliability plots (PNG, matplotlib's Agg backend): observed rate against mean served probability
in bins of the served probability, with Wilson 95 % intervals and the count of each bin."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

BINS = 10
MIN_PER_BIN = 10


def reliability_bins(outcome: npt.ArrayLike, probability: npt.ArrayLike, *, bins: int = BINS
                     ) -> list[tuple[float, float, int, int]]:
    """(mean probability, observed rate, positives, patients) per bin. Bins hold equal numbers of
    patients (quantiles of the served probability), at least :data:`MIN_PER_BIN` each, because
    served probabilities of rare outcomes crowd near 0 and fixed-width bins would be empty."""
    y = np.asarray(outcome).astype(int)
    p = np.asarray(probability, dtype=float)
    if y.size == 0:
        return []
    count = max(1, min(bins, y.size // MIN_PER_BIN))
    order = np.argsort(p, kind="stable")
    return [(float(p[part].mean()), float(y[part].mean()), int(y[part].sum()), int(part.size))
            for part in np.array_split(order, count) if part.size]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95 % interval of k/n."""
    if n == 0:
        return 0.0, 1.0
    phat = k / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def reliability_plot(outcome: npt.ArrayLike, probability: npt.ArrayLike, path: Path, *,
                     title: str = "") -> None:
    """Write the reliability plot of one task to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    y = np.asarray(outcome).astype(int)
    p = np.asarray(probability, dtype=float)
    rows = reliability_bins(y, p)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), height_ratios=(3, 1),
                                         sharex=True)
    try:
        top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect")
        if rows:
            x = np.array([r[0] for r in rows])
            rate = np.array([r[1] for r in rows])
            intervals = np.array([wilson(r[2], r[3]) for r in rows])
            top.errorbar(x, rate, yerr=np.abs(np.vstack([rate - intervals[:, 0],
                                                         intervals[:, 1] - rate])),
                         fmt="o-", color="tab:blue", capsize=3,
                         label="observed (Wilson 95 %)")
            for xi, ri, r in zip(x, rate, rows, strict=True):
                top.annotate(f"{r[2]}/{r[3]}", (xi, ri), textcoords="offset points",
                             xytext=(4, 4), fontsize=7)
        top.set_xlim(0, 1)
        top.set_ylim(-0.02, 1.02)
        top.set_ylabel("observed rate")
        top.legend(loc="upper left", fontsize=8)
        top.set_title(f"{title}\nn = {y.size} patients, {int(y.sum())} positives", fontsize=8)
        bottom.hist([p[y == 0], p[y == 1]], bins=20, range=(0, 1), stacked=True,
                    color=["0.7", "tab:red"], label=["negative", "positive"])
        bottom.set_xlabel("served probability")
        bottom.set_ylabel("patients")
        bottom.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
