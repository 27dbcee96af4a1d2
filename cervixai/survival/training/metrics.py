"""Survival metrics: concordance (Harrell, Uno), Brier score, calibration, MAE, bootstrap CIs.

All take structured (event, time) arrays as scikit-survival does. Survival functions are passed
as a matrix of probabilities at given times, so that any model (or the Kaplan–Meier estimate) is
scored alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sksurv.metrics import (  # type: ignore[import-untyped, unused-ignore]
    brier_score,
    concordance_index_ipcw,
    integrated_brier_score,
)
from sksurv.nonparametric import kaplan_meier_estimator  # type: ignore[import-untyped, unused-ignore]

from cervixai.evaluation import harrell_c

F64 = npt.NDArray[np.float64]
Y = npt.NDArray[np.void]


def harrell(y: Y, risk: npt.ArrayLike) -> float:
    """Harrell's C (:func:`cervixai.evaluation.harrell_c`, the oracle figures' definition)."""
    return harrell_c(y["time"], y["event"], risk)


def uno(y_train: Y, y_test: Y, risk: npt.ArrayLike, tau: float | None = None) -> float:
    """Uno's C (inverse-probability-of-censoring weighted), truncated at ``tau`` (default: the
    last time at which the training censoring distribution is estimable)."""
    tau = _tau(y_train, y_test) if tau is None else tau
    return float(concordance_index_ipcw(y_train, y_test,
                                        np.asarray(risk), tau=tau)[0])


def _tau(y_train: Y, y_test: Y) -> float:
    return float(min(y_train["time"].max(), y_test["time"].max()) - 1e-6)


def evaluation_times(y_train: Y, y_test: Y, n: int = 40) -> F64:
    """A grid for the integrated Brier score: the 10th to 90th percentile of the test times,
    within the range where both censoring distributions are estimable."""
    lo, hi = np.percentile(y_test["time"], [10, 90])
    hi = min(hi, _tau(y_train, y_test))
    return np.linspace(lo, hi, n)


def ibs(y_train: Y, y_test: Y, survival: F64, times: F64) -> float:
    return float(integrated_brier_score(y_train, y_test, survival, times))


def brier_at(y_train: Y, y_test: Y, survival_at_t: F64, t: float) -> float:
    """Brier score at ``t`` (NaN when ``t`` is outside the test follow-up)."""
    if not y_test["time"].min() <= t < min(y_test["time"].max(), y_train["time"].max()):
        return float("nan")
    return float(brier_score(y_train, y_test,
                             survival_at_t.reshape(-1, 1), [t])[1][0])


@dataclass(frozen=True)
class Calibration:
    """Predicted vs observed (Kaplan–Meier) survival at one horizon, by risk group."""

    months: float
    predicted_mean: float
    observed_km: float
    mean_abs_error: float          # group-size weighted |predicted − observed| over risk groups
    groups: list[tuple[float, float, int]]   # (predicted mean, observed KM, patients) per group


def calibration(y: Y, survival_at_t: F64, t: float, groups: int = 5) -> Calibration | None:
    """Grouped calibration at ``t``; None when follow-up ends before ``t``."""
    if t >= y["time"].max():
        return None
    order = np.argsort(survival_at_t)
    rows = []
    for part in np.array_split(order, groups):
        if part.size == 0:
            continue
        rows.append((float(survival_at_t[part].mean()), km_at(y[part], t), int(part.size)))
    n = sum(r[2] for r in rows)
    error = sum(abs(p - o) * k for p, o, k in rows) / n
    return Calibration(t, float(survival_at_t.mean()), km_at(y, t), float(error), rows)


def km_at(y: Y, t: float) -> float:
    """Kaplan–Meier survival at ``t``."""
    times, survival = kaplan_meier_estimator(y["event"], y["time"])
    index = np.searchsorted(times, t, side="right") - 1
    return float(survival[index]) if index >= 0 else 1.0


def mae(y: Y, months: npt.ArrayLike, *, events_only: bool) -> float:
    """Mean absolute error against the observed months (patients with an event, or all — the
    study's figure, which counts a censored time as if it were the event time)."""
    m = np.asarray(months, dtype=np.float64)
    keep = y["event"] if events_only else np.ones(len(y), bool)
    return float(np.mean(np.abs(m[keep] - y["time"][keep]))) if keep.any() else float("nan")


def bootstrap(metric: Callable[[npt.NDArray[np.intp]], float], n: int, *, rounds: int = 200,
              seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of ``metric(index)`` over bootstrap resamples of ``n`` rows.
    Resamples on which the metric is undefined (no event, no comparable pair) are skipped."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        index = rng.integers(0, n, n)
        try:
            value = metric(index)
        except (ValueError, ZeroDivisionError):
            continue
        if np.isfinite(value):
            values.append(value)
    if rounds == 0 or len(values) < rounds // 2:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def step_values(x: F64, y: F64, times: Sequence[float] | F64) -> F64:
    """A right-continuous step function (1 before its first point, flat after its last)."""
    index = np.searchsorted(x, np.asarray(times, dtype=np.float64), side="right") - 1
    return np.where(index >= 0, y[np.clip(index, 0, None)], 1.0)


def survival_matrix(functions: Sequence[Any], times: Sequence[float] | F64) -> F64:
    """Evaluate scikit-survival StepFunctions at ``times`` (flat beyond their domain)."""
    return np.stack([step_values(np.asarray(f.x, float), np.asarray(f.y, float), times)
                     for f in functions])


def restricted_mean(functions: Sequence[Any], tau: float, points: int = 400) -> F64:
    """Restricted mean survival time up to ``tau`` months: ∫₀^τ S(t) dt per patient."""
    grid = np.linspace(0.0, tau, points)
    s = survival_matrix(functions, grid)
    return np.asarray(np.trapezoid(s, grid, axis=1), dtype=np.float64)
