"""Bootstrap 95 % intervals and the small-sample rule.

Patients are resampled with replacement, ``rounds`` times, from one seeded generator; every metric
of one population is computed on the same resamples. A metric that rests on fewer than
:data:`MIN_COUNT` patients of the class it is about (positives for AUC, sensitivity and PPV,
negatives for specificity and NPV, events for survival, or a denominator that small) is
*unreliable*: it is reported with its counts and without an interval, because a percentile interval
over a handful of patients is mostly an artefact of the resampling. An interval of zero width
(10/10 resamples to 10/10 every time) says nothing either and is dropped too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MIN_COUNT = 10
# A metric undefined on more resamples than this share (no positive drawn, say) gets no interval.
MAX_UNDEFINED_SHARE = 0.5

Index = npt.NDArray[np.intp]
Statistic = Callable[[Index], float | None]


@dataclass(frozen=True)
class Estimate:
    """A point value, its bootstrap interval (None when unreliable or not estimable), whether it
    rests on enough patients, and for proportions the numerator and denominator."""

    value: float | None
    ci95: tuple[float, float] | None
    reliable: bool
    count: tuple[int, int] | None = None

    def to_json(self, *, with_reliable: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _number(self.value),
                               "ci95": None if self.ci95 is None else [_number(self.ci95[0]),
                                                                      _number(self.ci95[1])]}
        if self.count is not None:
            out["count"] = [int(self.count[0]), int(self.count[1])]
        if with_reliable:
            out["reliable"] = self.reliable
        return out


def resamples(n: int, rounds: int, seed: int) -> Index:
    """(rounds, n) patient indices drawn with replacement."""
    if n < 0 or rounds < 0:
        raise ValueError(f"need n ≥ 0 and rounds ≥ 0, got n={n}, rounds={rounds}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, max(n, 1), size=(rounds, n)).astype(np.intp)


def interval(statistic: Statistic, draws: Index) -> tuple[float, float] | None:
    """Percentile 95 % interval of ``statistic`` over ``draws``; None when too many resamples
    leave it undefined or when it has zero width."""
    if len(draws) == 0:
        return None
    values = []
    for index in draws:
        value = statistic(index)
        if value is not None and math.isfinite(value):
            values.append(value)
    if len(values) < (1 - MAX_UNDEFINED_SHARE) * len(draws):
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    if hi - lo <= 1e-12:
        return None
    return float(lo), float(hi)


def estimate(statistic: Statistic, n: int, draws: Index, *, reliable: bool,
             count: tuple[int, int] | None = None) -> Estimate:
    """The statistic on all ``n`` patients, with an interval only when ``reliable``."""
    value = statistic(np.arange(n, dtype=np.intp))
    ci = interval(statistic, draws) if reliable and value is not None else None
    return Estimate(value, ci, reliable and value is not None, count)


def enough(*counts: int) -> bool:
    """The small-sample rule: every count at least :data:`MIN_COUNT`."""
    return all(c >= MIN_COUNT for c in counts)


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)
