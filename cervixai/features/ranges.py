"""Whether a patient's image features lie inside what a model saw in training.

Each image model's manifest entry may record ``parameters["image_feature_ranges"]``:
``{feature_name: [low, high]}``, the 0.5th–99.5th percentile of each radiomics feature over the
training patients. A value outside its range means the model is extrapolating for this patient;
the services say so in a warning (:func:`warning`) and count it. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Enough names for a reader to see what is off; the count says how many more there are.
NAMED_IN_WARNING = 5


@dataclass(frozen=True)
class OutOfRange:
    """One feature outside its training range."""

    feature: str
    value: float
    low: float
    high: float

    @property
    def excess(self) -> float:
        """How far outside the range, in range widths (for ordering the worst first)."""
        if math.isnan(self.value):
            return math.inf
        width = self.high - self.low
        gap = self.low - self.value if self.value < self.low else self.value - self.high
        return gap / width if width > 0 else math.inf

    def describe(self) -> str:
        """``shape_volume_ml (142 > 95.3)``: the value and the bound it crosses, rounded to three
        significant digits (enough to read the size of the excess, no more)."""
        if self.value > self.high:
            return f"{self.feature} ({_rounded(self.value)} > {_rounded(self.high)})"
        return f"{self.feature} ({_rounded(self.value)} < {_rounded(self.low)})"


def check_ranges(raw: object) -> dict[str, tuple[float, float]]:
    """Validate a manifest's ``image_feature_ranges``: a mapping of feature name to ``[low,
    high]`` with finite ``low <= high``. Raises ValueError naming every bad entry."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"image_feature_ranges must be an object of [low, high] pairs, got "
                         f"{type(raw).__name__}")
    ranges: dict[str, tuple[float, float]] = {}
    bad: list[str] = []
    for name, bounds in raw.items():
        try:
            low, high = (float(b) for b in bounds)
        except (TypeError, ValueError):
            bad.append(f"{name}: {bounds!r} is not a [low, high] pair")
            continue
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            bad.append(f"{name}: [{low}, {high}] is not a finite range with low <= high")
            continue
        ranges[str(name)] = (low, high)
    if bad:
        raise ValueError(f"image_feature_ranges: {'; '.join(bad)}")
    return ranges


def out_of_range(values: Mapping[str, float],
                 ranges: Mapping[str, Sequence[float]]) -> list[OutOfRange]:
    """The features of ``values`` outside their ``[low, high]`` in ``ranges``, farthest outside
    (in range widths) first. Bounds are inclusive; features without a range, and ranges
    without a value, are not checked. A non-finite value counts as outside."""
    found = []
    for name, bounds in ranges.items():
        if name not in values:
            continue
        low, high = float(bounds[0]), float(bounds[1])
        value = float(values[name])
        if not low <= value <= high:  # also catches NaN
            found.append(OutOfRange(name, value, low, high))
    return sorted(found, key=lambda f: (-f.excess, f.feature))


def warning(model: str, found: Sequence[OutOfRange]) -> str:
    """The reply's warning for one model: ``parametrial_invasion: image features outside the
    training range: shape_volume_ml (142 > 95.3), ...`` ('' when nothing is outside)."""
    if not found:
        return ""
    named = ", ".join(f.describe() for f in found[:NAMED_IN_WARNING])
    more = len(found) - NAMED_IN_WARNING
    return (f"{model}: image features outside the training range: {named}"
            + (f" and {more} more" if more > 0 else "")
            + " — the model is extrapolating for this patient")


def _rounded(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    r = float(f"{x:.3g}")
    return f"{r:.0f}" if 100 <= abs(r) < 1e7 else f"{r:g}"
