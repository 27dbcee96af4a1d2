"""Metrics of served binary predictions and lesion masks: pure functions on arrays.

Each function takes the outcomes (0/1) and what the system served for the same patients, and
returns plain numbers (``None`` where the metric is undefined, e.g. a sensitivity without a
positive patient). Confidence intervals and the small-sample rule live in
:mod:`cervixai.evaluate.bootstrap`; the ROC AUC is :func:`cervixai.evaluation.roc_auc`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cervixai.evaluation import roc_auc

# Probabilities are clipped this far from 0 and 1 before taking their logit: a served 0.0 or 1.0
# would otherwise be an infinite covariate.
LOGIT_EPSILON = 1e-6


@dataclass(frozen=True)
class Confusion:
    """Counts of one task at one operating threshold (predicted positive: p ≥ threshold)."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.tn + self.fp

    def counts(self) -> dict[str, tuple[int, int]]:
        """Numerator and denominator of sensitivity, specificity, PPV and NPV."""
        return {"sensitivity": (self.tp, self.tp + self.fn),
                "specificity": (self.tn, self.tn + self.fp),
                "ppv": (self.tp, self.tp + self.fp),
                "npv": (self.tn, self.tn + self.fn)}


def confusion(outcome: npt.ArrayLike, probability: npt.ArrayLike,
              threshold: float | npt.ArrayLike) -> Confusion:
    """The confusion counts; ``threshold`` is one number or one per patient (the threshold each
    reply carried)."""
    y = _outcome(outcome)
    p = np.asarray(probability, dtype=float)
    t = np.broadcast_to(np.asarray(threshold, dtype=float), p.shape)
    _same_shape(y, p)
    called = p >= t
    return Confusion(tp=int((called & y).sum()), fp=int((called & ~y).sum()),
                     tn=int((~called & ~y).sum()), fn=int((~called & y).sum()))


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, None for an empty denominator."""
    return numerator / denominator if denominator else None


def auc(outcome: npt.ArrayLike, probability: npt.ArrayLike) -> float | None:
    """ROC AUC, None unless both classes are present."""
    y = _outcome(outcome)
    if y.all() or not y.any():
        return None
    return roc_auc(y, probability)


@dataclass(frozen=True)
class CalibrationInTheLarge:
    """Mean served probability against the observed rate; ``difference`` = mean probability −
    observed rate (positive: the model over-predicts), ``standard_error`` that of the rate,
    √(r(1 − r)/n)."""

    mean_probability: float
    observed_rate: float
    difference: float
    standard_error: float


def calibration_in_the_large(outcome: npt.ArrayLike, probability: npt.ArrayLike
                             ) -> CalibrationInTheLarge:
    y = _outcome(outcome)
    p = np.asarray(probability, dtype=float)
    _same_shape(y, p)
    if y.size == 0:
        raise ValueError("calibration needs at least one patient")
    rate = float(y.mean())
    mean = float(p.mean())
    return CalibrationInTheLarge(mean, rate, mean - rate, math.sqrt(rate * (1 - rate) / y.size))


def logit(probability: npt.ArrayLike) -> npt.NDArray[np.float64]:
    p = np.clip(np.asarray(probability, dtype=float), LOGIT_EPSILON, 1 - LOGIT_EPSILON)
    return np.asarray(np.log(p / (1 - p)), dtype=np.float64)


def calibration_slope(outcome: npt.ArrayLike, probability: npt.ArrayLike, *,
                      iterations: int = 50) -> float | None:
    """Slope b of the logistic regression logit P(y = 1) = a + b · logit(p), fitted by Newton's
    method; 1 for probabilities that are right on average at every level, < 1 when they are too
    extreme. None when it is not estimable: one class only, no spread in p, or separation (the
    maximum-likelihood slope is infinite)."""
    y = _outcome(outcome).astype(float)
    x = logit(probability)
    _same_shape(y, x)
    if y.size < 3 or y.min() == y.max() or np.ptp(x) < 1e-12:
        return None
    design = np.column_stack([np.ones_like(x), x])
    beta = np.array([math.log(y.mean() / (1 - y.mean())), 0.0])
    for _ in range(iterations):
        eta = np.clip(design @ beta, -30, 30)
        mu = 1 / (1 + np.exp(-eta))
        weight = mu * (1 - mu)
        hessian = design.T @ (design * weight[:, None])
        try:
            step = np.linalg.solve(hessian, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    else:
        return None  # no convergence: (quasi-)separated outcomes
    if not np.all(np.isfinite(beta)) or abs(beta[1]) > 1e3:
        return None
    return float(beta[1])


def dice(truth: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Dice overlap 2|A∩B| / (|A| + |B|) of two masks of one shape; for a lesion-free truth, 1 when
    nothing is predicted and 0 otherwise."""
    a = np.asarray(truth, dtype=bool)
    b = np.asarray(predicted, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: truth {a.shape}, predicted {b.shape}")
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int((a & b).sum()) / total


def _outcome(outcome: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    y = np.asarray(outcome)
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"outcomes must be 0/1, got values {sorted(set(y.ravel().tolist()))[:5]}")
    return y.astype(bool)


def _same_shape(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"outcomes and predictions differ in shape: {a.shape} vs {b.shape}")
