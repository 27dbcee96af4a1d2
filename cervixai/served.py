"""What a service says about each model it serves, read from the model's manifest entry.

* The served performance figures, as wire messages. Training writes ``entry.metrics["served"]``
  for each ``classifier.<task>`` and ``survival.<outcome>`` entry: how the model did, at its
  operating threshold, on the patients it was scored on. The services put these figures beside
  every answer (``TaskPrediction.operating_characteristics``, ``SurvivalEstimate.performance``)
  so that a reader sees a risk together with how often such a call was right. Bundles written
  before the block existed have none: the reply then carries no figures.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cervix.v1 import classifier_pb2, common_pb2, survival_pb2
from cervixai.bundle import ModelEntry
from cervixai.features.ranges import check_ranges, out_of_range, warning
from cervixai.service.metrics import IMAGE_FEATURES_OUT_OF_RANGE

log = logging.getLogger(__name__)
PROPORTIONS = ("sensitivity", "specificity", "ppv", "npv")
THRESHOLD_TOLERANCE = 1e-6
T = TypeVar("T")


class ServedFacts:
    """The served figures and training ranges of the models of one service (``service`` labels
    the out-of-range counter: ``classifier`` or ``survival``)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._read: dict[tuple[str, str, str], Any] = {}

    def operating_characteristics(self, entry: ModelEntry
                                  ) -> classifier_pb2.OperatingCharacteristics | None:
        return self._once("served figures", entry, operating_characteristics, None)

    def survival_performance(self, entry: ModelEntry) -> survival_pb2.SurvivalPerformance | None:
        return self._once("served figures", entry, survival_performance, None)

    def image_ranges(self, entry: ModelEntry) -> dict[str, tuple[float, float]]:
        return self._once("image feature ranges", entry, lambda e: check_ranges(
            e.parameters.get("image_feature_ranges", {})), {})

    def range_warning(self, label: str, entry: ModelEntry, values: Mapping[str, float]) -> str:
        """Check ``values`` against the entry's training ranges; count every feature outside
        and return the reply's warning for ``label`` (the task or outcome), or ''."""
        found = out_of_range(values, self.image_ranges(entry))
        for finding in found:
            IMAGE_FEATURES_OUT_OF_RANGE.labels(self.service, entry.name, finding.feature).inc()
        return warning(label, found)

    def _once(self, what: str, entry: ModelEntry, read: Callable[[ModelEntry], T],
              fallback: T) -> T:
        key = (what, entry.name, entry.version)
        if key not in self._read:
            try:
                self._read[key] = read(entry)
            except ValueError as e:
                log.error("the %s of %s are not used (malformed manifest entry): %s", what,
                          entry.name, e)
                self._read[key] = fallback
        result: T = self._read[key]
        return result


def operating_characteristics(entry: ModelEntry
                              ) -> classifier_pb2.OperatingCharacteristics | None:
    """A classifier entry's served figures, or None when its manifest has none. Raises
    ValueError naming the first malformed key, or when the figures were counted at another
    threshold than the model's."""
    served = _served(entry)
    if served is None:
        return None
    where = f"{entry.name}: metrics.served"
    message = classifier_pb2.OperatingCharacteristics(
        **_header(served, where), positives=_count(served, "positives", where))
    # None when no patient was scored; the figures are then empty and the threshold the model's
    if served.get("threshold") is not None:
        message.threshold = _number(served, "threshold", where)
        # the evaluation records the threshold rounded to 6 decimals
        if entry.threshold is not None and not math.isclose(message.threshold, entry.threshold,
                                                            abs_tol=THRESHOLD_TOLERANCE):
            raise ValueError(f"{where}: counted at threshold {message.threshold:g}, but the "
                             f"model's threshold is {entry.threshold:g}")
    elif entry.threshold is not None:
        message.threshold = entry.threshold
    for name in PROPORTIONS:
        if served.get(name) is not None:
            getattr(message, name).CopyFrom(_proportion(served[name], f"{where}.{name}"))
    if served.get("auc") is not None:
        message.auc.CopyFrom(_metric(served["auc"], f"{where}.auc"))
    if served.get("oracle_auc") is not None:
        message.oracle_auc = _number(served, "oracle_auc", where)
    return message


def survival_performance(entry: ModelEntry) -> survival_pb2.SurvivalPerformance | None:
    """A survival entry's served figures, or None when its manifest has none. Raises
    ValueError naming the first malformed key."""
    served = _served(entry)
    if served is None:
        return None
    where = f"{entry.name}: metrics.served"
    message = survival_pb2.SurvivalPerformance(**_header(served, where),
                                               events=_count(served, "events", where))
    for name in ("c_index", "integrated_brier_score"):
        if served.get(name) is not None:
            getattr(message, name).CopyFrom(_metric(served[name], f"{where}.{name}"))
    if served.get("oracle_c_index") is not None:
        message.oracle_c_index = _number(served, "oracle_c_index", where)
    return message


def _served(entry: ModelEntry) -> Mapping[str, Any] | None:
    served = entry.metrics.get("served")
    if served is None:
        return None
    if not isinstance(served, Mapping):
        raise ValueError(f"{entry.name}: metrics.served must be an object, got "
                         f"{type(served).__name__}")
    return served


def _header(served: Mapping[str, Any], where: str) -> dict[str, Any]:
    reliable = served.get("reliable")
    if not isinstance(reliable, bool):
        raise ValueError(f"{where}.reliable must be true or false, got {reliable!r}")
    return {"source": str(served.get("source", "")), "cohort": str(served.get("cohort", "")),
            "split": str(served.get("split", "")), "reliable": reliable,
            "patients": _count(served, "patients", where)}


def _metric(block: object, where: str) -> common_pb2.MetricValue:
    if not isinstance(block, Mapping):
        raise ValueError(f"{where} must be an object with value and ci95, got {block!r}")
    message = common_pb2.MetricValue()
    if block.get("value") is not None:
        message.value = _number(block, "value", where)
    if block.get("ci95") is not None:
        interval = _interval(block["ci95"], f"{where}.ci95")
        if interval is not None:
            message.ci95.CopyFrom(interval)
    return message


def _proportion(block: object, where: str) -> common_pb2.Proportion:
    metric = _metric(block, where)
    assert isinstance(block, Mapping)
    count = block.get("count")
    if (not isinstance(count, list | tuple) or len(count) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in count)
            or count[0] > count[1]):
        raise ValueError(f"{where}.count must be [k, n] with 0 <= k <= n, got {count!r}")
    message = common_pb2.Proportion(numerator=count[0], denominator=count[1])
    if metric.HasField("value"):
        message.value = metric.value
    if metric.HasField("ci95"):
        message.ci95.CopyFrom(metric.ci95)
    return message


def _interval(bounds: object, where: str) -> common_pb2.ConfidenceInterval | None:
    """``[low, high]``; None for an interval that could not be estimated (``null`` bounds)."""
    if not isinstance(bounds, list | tuple) or len(bounds) != 2:
        raise ValueError(f"{where} must be [low, high] or null, got {bounds!r}")
    if any(b is None for b in bounds):
        return None
    if not all(isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b)
               for b in bounds):
        raise ValueError(f"{where} must be [low, high] or null, got {bounds!r}")
    return common_pb2.ConfidenceInterval(low=float(bounds[0]), high=float(bounds[1]))


def _number(block: Mapping[str, Any], key: str, where: str) -> float:
    value = block.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}.{key} must be a finite number, got {value!r}")
    return float(value)


def _count(block: Mapping[str, Any], key: str, where: str) -> int:
    value = block.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{key} must be a count (an integer >= 0), got {value!r}")
    return value
