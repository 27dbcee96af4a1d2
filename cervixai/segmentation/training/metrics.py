"""Segmentation quality: Dice, Otsu's threshold as the baseline, bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Bool = npt.NDArray[np.bool_]


def dice(prediction: Bool, truth: Bool) -> float:
    """2|A∩B| / (|A| + |B|); 1.0 when both are empty (no lesion, correctly none found)."""
    total = int(prediction.sum()) + int(truth.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(prediction, truth).sum()) / total


def otsu_threshold(volume: npt.NDArray[np.float32], bins: int = 256) -> float:
    """Otsu's threshold of the volume's intensities (maximum between-class variance)."""
    counts, edges = np.histogram(volume, bins=bins, range=(float(volume.min()),
                                                           float(volume.max()) + 1e-12))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    mass_low = np.cumsum(counts * centres)
    mean_low = mass_low / np.maximum(weight_low, 1)
    mean_high = (mass_low[-1] - mass_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def otsu_mask(volume: npt.NDArray[np.float32]) -> Bool:
    """The baseline: voxels above Otsu's threshold (the lesion is intermediate-to-bright)."""
    mask: Bool = volume > otsu_threshold(volume)
    return mask


def summary(values: Sequence[float], *, seed: int = 0, resamples: int = 2000) -> dict[str, Any]:
    """Mean with a percentile-bootstrap 95% CI over patients, median, and the count."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {"mean": None, "ci95": None, "median": None, "n": 0}
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, array.size, (resamples, array.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": round(float(array.mean()), 4), "ci95": [round(float(low), 4),
                                                            round(float(high), 4)],
            "median": round(float(np.median(array)), 4), "n": int(array.size)}
