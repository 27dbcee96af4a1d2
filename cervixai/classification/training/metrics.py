"""Test metrics of a binary classifier at its operating threshold, with bootstrap 95% CIs.

``weighted_accuracy`` is the class-balanced accuracy (sensitivity + specificity) / 2, the usual
reading of the study's "weighted accuracy" for imbalanced tasks.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from cervixai.evaluation import roc_auc

METRICS = ("sensitivity", "specificity", "accuracy", "precision", "f1", "weighted_accuracy",
           "auc")


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def binary_metrics(y: npt.ArrayLike, probability: npt.ArrayLike, threshold: float
                   ) -> dict[str, float]:
    """Every metric of :data:`METRICS` (NaN where undefined, e.g. AUC with one class)."""
    truth = np.asarray(y).astype(bool)
    p = np.asarray(probability, dtype=float)
    predicted = p >= threshold
    tp = float((predicted & truth).sum())
    tn = float((~predicted & ~truth).sum())
    fp = float((predicted & ~truth).sum())
    fn = float((~predicted & truth).sum())
    sensitivity = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    precision = _ratio(tp, tp + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    both = truth.any() and (~truth).any()
    return {
        "sensitivity": sensitivity,
        "specificity": specificity,
        "accuracy": _ratio(tp + tn, len(truth)),
        "precision": precision,
        "f1": f1,
        "weighted_accuracy": (sensitivity + specificity) / 2,
        "auc": roc_auc(truth, p) if both else math.nan,
    }


def bootstrap_ci(y: npt.ArrayLike, probability: npt.ArrayLike, threshold: float, *,
                 replicates: int = 1000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile 95% interval of each metric over ``replicates`` resamples of the patients
    (stratified, so each resample keeps the test set's positives and negatives)."""
    truth = np.asarray(y).astype(bool)
    p = np.asarray(probability, dtype=float)
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(truth), np.flatnonzero(~truth)
    samples: dict[str, list[float]] = {m: [] for m in METRICS}
    for _ in range(replicates):
        index = np.concatenate([rng.choice(positives, len(positives)) if len(positives) else
                                positives,
                                rng.choice(negatives, len(negatives)) if len(negatives) else
                                negatives])
        for name, value in binary_metrics(truth[index], p[index], threshold).items():
            samples[name].append(value)
    out: dict[str, tuple[float, float]] = {}
    for name, values in samples.items():
        finite = np.array([v for v in values if math.isfinite(v)])
        out[name] = ((float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)))
                     if finite.size else (math.nan, math.nan))
    return out


def threshold_for_sensitivity(y: npt.ArrayLike, probability: npt.ArrayLike,
                              target: float) -> float:
    """The highest threshold whose sensitivity on (y, probability) reaches ``target``: the
    operating point that keeps as much specificity as the sensitivity target allows."""
    truth = np.asarray(y).astype(bool)
    p = np.asarray(probability, dtype=float)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    positives = np.sort(p[truth])[::-1]
    if positives.size == 0:
        raise ValueError("cannot choose a threshold without a positive patient")
    needed = math.ceil(target * positives.size - 1e-9)
    return float(positives[max(needed, 1) - 1])
