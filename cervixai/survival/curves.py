"""Survival curves of a proportional-hazards model: S(t | x) = S0(t) ** exp(risk(x)).

The baseline table (``survival/<outcome>_baseline.json`` in a bundle) holds the times at which the
baseline survival S0 steps down and its value there; the curve is a right-continuous step
function, 1 before the first time and flat after the last (the end of the training follow-up).
Serving-safe: numpy only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

HORIZONS_MONTHS = (12.0, 36.0, 60.0)
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BaselineSurvival:
    """S0 at increasing ``times_months``; ``follow_up_months``: the last observed training time."""

    times_months: F64
    survival: F64
    follow_up_months: float

    def __post_init__(self) -> None:
        t, s = self.times_months, self.survival
        if t.ndim != 1 or t.shape != s.shape or t.size == 0:
            raise ValueError(f"baseline times and survival must be equal-length 1-D arrays, got "
                             f"{t.shape} and {s.shape}")
        if np.any(np.diff(t) <= 0) or t[0] < 0:
            raise ValueError("baseline times must be non-negative and strictly increasing")
        if np.any(np.diff(s) > 1e-12) or s[0] > 1 or s[-1] < 0:
            raise ValueError("baseline survival must be non-increasing within [0, 1]")

    @classmethod
    def from_json(cls, data: bytes | str) -> BaselineSurvival:
        table = json.loads(data)
        try:
            return cls(np.asarray(table["times_months"], dtype=np.float64),
                       np.asarray(table["baseline_survival"], dtype=np.float64),
                       float(table["follow_up_months"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed baseline survival table ({e})") from e

    def to_json(self, **extra: Any) -> bytes:
        table: dict[str, Any] = {
            "times_months": [round(float(t), 6) for t in self.times_months],
            "baseline_survival": [float(s) for s in self.survival],
            "follow_up_months": self.follow_up_months,
            "model": "S(t|x) = baseline_survival(t) ** exp(risk_score(x)); step function, "
                     "1 before the first time, flat after the last",
            **extra,
        }
        return (json.dumps(table, indent=1) + "\n").encode()

    def curves(self, risk: npt.ArrayLike) -> F64:
        """(n, len(times)) survival probabilities at :attr:`times_months` for each risk score."""
        r = np.asarray(risk, dtype=np.float64).reshape(-1, 1)
        return np.power(self.survival.reshape(1, -1), np.exp(r))

    def at(self, risk: npt.ArrayLike, months: npt.ArrayLike) -> F64:
        """(n, len(months)) survival probabilities at arbitrary times."""
        index = np.searchsorted(self.times_months, np.asarray(months, dtype=np.float64),
                                side="right") - 1
        base = np.where(index >= 0, self.survival[np.clip(index, 0, None)], 1.0)
        r = np.asarray(risk, dtype=np.float64).reshape(-1, 1)
        return np.power(base.reshape(1, -1), np.exp(r))


@dataclass(frozen=True)
class CurveSummary:
    """What the service reports about one patient's curve."""

    median_months: float | None
    follow_up_months: float
    at_horizons: dict[float, float]
    points: list[tuple[float, float]]


def summarise(times_months: F64, survival: F64, follow_up_months: float,
              horizons: Sequence[float] = HORIZONS_MONTHS) -> CurveSummary:
    """Median (first time the curve reaches 0.5 or below, None when it never does within
    follow-up), survival at ``horizons`` and the curve starting at (0, 1)."""
    below = np.flatnonzero(survival <= 0.5)
    median = float(times_months[below[0]]) if below.size else None
    index = np.searchsorted(times_months, np.asarray(horizons, dtype=np.float64), side="right") - 1
    at = {float(h): (float(survival[i]) if i >= 0 else 1.0) for h, i in zip(horizons, index,
                                                                           strict=True)}
    points = [(0.0, 1.0)] + [(float(t), float(min(s, 1.0))) for t, s in
                             zip(times_months, survival, strict=True) if t > 0]
    return CurveSummary(median, follow_up_months, at, points)


def horizons_beyond(follow_up_months: float, horizons: Sequence[float] = HORIZONS_MONTHS
                    ) -> list[float]:
    """Horizons past the end of the training follow-up: their probability is the curve's last
    value, an extrapolation the caller should be told about."""
    return [h for h in horizons if h > follow_up_months + 1e-9]
