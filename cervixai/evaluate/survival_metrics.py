"""Metrics of served survival estimates: Harrell's C and the IPCW (integrated) Brier score.

The Brier score at time t (Graf et al. 1999) weights each patient by the inverse probability of
still being uncensored, G, estimated by Kaplan–Meier with censoring as the event:

    BS(t) = 1/n Σ_i [S_i(t)² · 1(T_i ≤ t, δ_i = 1) / G(T_i−) + (1 − S_i(t))² · 1(T_i > t) / G(t)]

Patients censored before t contribute 0 (their weight is carried by the others). The integrated
score is the trapezoid mean of BS over a grid of times. Served curves are right-continuous step
functions through their points, 1 before the first and flat after the last (as the survival
service builds them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cervixai.evaluation import harrell_c

F64 = npt.NDArray[np.float64]
# The integrated Brier score's grid: this many times between these percentiles of the observed
# times (the survival training report's convention), so that both ends have patients at risk.
GRID_POINTS = 40
GRID_PERCENTILES = (10.0, 90.0)


def c_index(months: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike) -> float | None:
    """Harrell's C of ``risk`` (higher = earlier event); None without a comparable pair."""
    try:
        return harrell_c(months, event, risk)
    except ValueError:
        return None


def kaplan_meier(months: npt.ArrayLike, event: npt.ArrayLike) -> tuple[F64, F64]:
    """The Kaplan–Meier estimate: distinct event times and the survival just after each."""
    t = np.asarray(months, dtype=float)
    e = np.asarray(event).astype(bool)
    times, events = np.unique(t[e], return_counts=True)
    at_risk = t.size - np.searchsorted(np.sort(t), times, side="left")
    survival = np.cumprod(1.0 - events / at_risk).astype(np.float64)
    return times.astype(np.float64), survival


def step_at(times: F64, values: F64, at: npt.ArrayLike, *, left: bool = False) -> F64:
    """A right-continuous step function (1 before ``times[0]``) at ``at``; ``left=True`` gives
    its left limit, f(t−)."""
    query = np.asarray(at, dtype=float)
    if times.size == 0:
        return np.ones(query.shape)
    index = np.searchsorted(times, query, side="left" if left else "right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], 1.0)


def curve_matrix(curves: Sequence[Sequence[tuple[float, float]]], at: npt.ArrayLike) -> F64:
    """(patients, times) survival probabilities of served curves, each a list of (months,
    probability) points."""
    rows = []
    for points in curves:
        table = np.asarray(points, dtype=float).reshape(-1, 2)
        order = np.argsort(table[:, 0], kind="stable")
        rows.append(step_at(table[order, 0], table[order, 1], at))
    return np.vstack(rows) if rows else np.zeros((0, np.size(at)))


def brier_scores(months: npt.ArrayLike, event: npt.ArrayLike, survival: npt.ArrayLike,
                 at: npt.ArrayLike) -> F64:
    """IPCW Brier score at each time of ``at``; ``survival`` is (patients, len(at)), the
    predicted S_i(t). The censoring distribution is estimated on the same patients."""
    t = np.asarray(months, dtype=float)
    e = np.asarray(event).astype(bool)
    s = np.asarray(survival, dtype=float)
    grid = np.atleast_1d(np.asarray(at, dtype=float))
    if s.shape != (t.size, grid.size):
        raise ValueError(f"survival must be (patients, times) = ({t.size}, {grid.size}), "
                         f"got {s.shape}")
    censor_times, censor_survival = kaplan_meier(t, ~e)
    g_before_own = step_at(censor_times, censor_survival, t, left=True)   # G(T_i−)
    g_at_grid = step_at(censor_times, censor_survival, grid)              # G(t)
    if np.any(g_at_grid <= 0):
        raise ValueError("the censoring estimate reaches 0 before the last evaluation time; "
                         "evaluate at earlier times")
    died = (t[:, None] <= grid[None, :]) & e[:, None]
    alive = t[:, None] > grid[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        dead_term = np.where(died, s ** 2 / g_before_own[:, None], 0.0)
    alive_term = np.where(alive, (1 - s) ** 2 / g_at_grid[None, :], 0.0)
    return np.asarray((dead_term + alive_term).mean(axis=0), dtype=float)


def integrated_brier_score(months: npt.ArrayLike, event: npt.ArrayLike, survival: npt.ArrayLike,
                           at: npt.ArrayLike) -> float:
    """The trapezoid mean of :func:`brier_scores` over ``at`` (at least two increasing times)."""
    grid = np.asarray(at, dtype=float)
    if grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError("the integrated Brier score needs at least two increasing times")
    scores = brier_scores(months, event, survival, grid)
    area = float(np.sum((scores[1:] + scores[:-1]) * np.diff(grid)) / 2)
    return area / float(grid[-1] - grid[0])


def evaluation_grid(months: npt.ArrayLike, points: int = GRID_POINTS) -> F64:
    """The integrated Brier score's times: ``points`` from the 10th to the 90th percentile of the
    observed times."""
    lo, hi = np.percentile(np.asarray(months, dtype=float), GRID_PERCENTILES)
    if hi <= lo:
        raise ValueError("observed times have no spread; no integrated Brier score")
    return np.linspace(float(lo), float(hi), points)
