"""Test metrics, bootstrap intervals and the threshold for a sensitivity target."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cervixai.classification.training.metrics import (
    binary_metrics,
    bootstrap_ci,
    threshold_for_sensitivity,
)


def test_metrics_of_a_known_confusion_matrix() -> None:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1])
    m = binary_metrics(y, p, 0.5)     # TP 3, FN 1, FP 1, TN 5
    assert m["sensitivity"] == pytest.approx(0.75)
    assert m["specificity"] == pytest.approx(5 / 6)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["precision"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75)
    assert m["weighted_accuracy"] == pytest.approx((0.75 + 5 / 6) / 2)
    assert m["auc"] == pytest.approx(23 / 24)


def test_undefined_metrics_are_nan_not_errors() -> None:
    m = binary_metrics(np.zeros(5), np.linspace(0, 1, 5), 0.5)
    assert math.isnan(m["sensitivity"]) and math.isnan(m["auc"])
    assert m["specificity"] == pytest.approx(0.4)


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_more_patients() -> None:
    rng = np.random.default_rng(0)

    def width(n: int) -> tuple[float, float, float]:
        y = (rng.random(n) < 0.3).astype(int)
        p = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
        auc = binary_metrics(y, p, 0.5)["auc"]
        lo, hi = bootstrap_ci(y, p, 0.5, replicates=300)["auc"]
        return lo, auc, hi

    lo, auc, hi = width(100)
    assert lo <= auc <= hi
    lo2, _, hi2 = width(2000)
    assert hi2 - lo2 < (hi - lo) / 2


@pytest.mark.parametrize(("target", "expected"), [(0.8, 0.6), (1.0, 0.2), (0.5, 0.7), (0.2, 0.9)])
def test_threshold_is_the_highest_reaching_the_target(target: float, expected: float) -> None:
    y = np.array([1, 1, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.65, 0.1])
    threshold = threshold_for_sensitivity(y, p, target)
    assert threshold == pytest.approx(expected)
    assert binary_metrics(y, p, threshold)["sensitivity"] >= target


def test_threshold_needs_a_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        threshold_for_sensitivity(np.zeros(3), np.ones(3), 0.8)
