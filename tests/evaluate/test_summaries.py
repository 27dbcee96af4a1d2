"""The small-sample rule and bootstrap intervals of one population's figures."""

from __future__ import annotations

import numpy as np
import pytest

from cervixai.evaluate import summaries
from cervixai.evaluate.bootstrap import MIN_COUNT, enough, estimate, interval, resamples


def _task(positives: int, negatives: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array([1] * positives + [0] * negatives)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, y.size), 0, 1)
    return y, p


def test_small_sample_keeps_value_and_counts_but_no_interval() -> None:
    y = np.array([1, 1, 1, 1] + [0] * 30)
    p = np.array([0.9, 0.8, 0.7, 0.1] + [0.05] * 25 + [0.6] * 5)
    s = summaries.classification(y, p, 0.5, rounds=200, seed=0)
    assert s["positives"] == 4 and s["negatives"] == 30 and s["reliable"] is False
    assert s["sensitivity"] == {"value": 0.75, "ci95": None, "count": [3, 4], "reliable": False}
    assert s["auc"]["value"] is not None and s["auc"]["ci95"] is None
    assert s["auc"]["reliable"] is False
    assert s["ppv"]["count"] == [3, 8] and s["ppv"]["ci95"] is None
    # 25 of 30 negatives below the threshold: enough negatives, so specificity has its interval
    assert s["specificity"]["count"] == [25, 30] and s["specificity"]["reliable"] is True
    lo, hi = s["specificity"]["ci95"]
    assert lo < 25 / 30 < hi
    assert s["npv"]["count"] == [25, 26] and s["npv"]["ci95"] is not None
    assert s["calibration_slope"]["ci95"] is None


def test_enough_patients_give_intervals_around_the_value() -> None:
    y, p = _task(40, 60)
    s = summaries.classification(y, p, 0.5, oracle=y * 0.5 + 0.25, rounds=300, seed=1)
    assert s["reliable"] is True
    for name in ("auc", "sensitivity", "specificity", "ppv", "npv"):
        lo, hi = s[name]["ci95"]
        assert lo <= s[name]["value"] <= hi and hi - lo > 0.01, name
    assert s["oracle_auc"] == pytest.approx(1.0)
    assert s["threshold"] == 0.5


def test_intervals_are_reproducible_for_a_seed() -> None:
    y, p = _task(30, 30)
    one = summaries.classification(y, p, 0.5, rounds=100, seed=5)
    two = summaries.classification(y, p, 0.5, rounds=100, seed=5)
    other = summaries.classification(y, p, 0.5, rounds=100, seed=6)
    assert one == two
    assert one["auc"]["ci95"] != other["auc"]["ci95"]


def test_one_class_gives_no_auc() -> None:
    s = summaries.classification(np.zeros(12, int), np.linspace(0, 1, 12), 0.5, rounds=50)
    assert s["auc"] == {"value": None, "ci95": None, "reliable": False}
    assert s["sensitivity"]["count"] == [0, 0] and s["sensitivity"]["value"] is None


def test_zero_width_interval_is_dropped() -> None:
    # 12/12: every resample gives 1.0, an interval that says nothing
    y = np.ones(12, int)
    assert interval(lambda i: float(y[i].mean()), resamples(12, 100, 0)) is None


def test_estimate_of_an_unreliable_metric_skips_the_bootstrap() -> None:
    calls = []

    def statistic(index: np.ndarray) -> float:
        calls.append(len(index))
        return 0.5

    e = estimate(statistic, 8, resamples(8, 100, 0), reliable=False, count=(4, 8))
    assert calls == [8] and e.ci95 is None and e.to_json()["count"] == [4, 8]


@pytest.mark.parametrize(("counts", "expected"), [((MIN_COUNT,), True), ((MIN_COUNT - 1,), False),
                                                  ((50, 9), False), ((10, 10), True)])
def test_enough(counts: tuple[int, ...], expected: bool) -> None:
    assert enough(*counts) is expected


def test_survival_summary_flags_few_events() -> None:
    rng = np.random.default_rng(2)
    n = 60
    months = rng.uniform(1, 50, n)
    few = np.zeros(n, int)
    few[:6] = 1
    grid = np.linspace(5, 40, 8)
    curves = np.tile(np.linspace(1, 0.6, 8), (n, 1))
    s = summaries.survival(months, few, rng.normal(size=n), curves, grid, rounds=100)
    assert s["events"] == 6 and s["reliable"] is False
    assert s["c_index"]["value"] is not None and s["c_index"]["ci95"] is None
    assert s["integrated_brier_score"]["ci95"] is None
    many = (rng.random(n) < 0.5).astype(int)
    risk = -months + rng.normal(0, 5, n)
    s = summaries.survival(months, many, risk, curves, grid, oracle=-months, rounds=100)
    assert s["reliable"] is True and s["c_index"]["ci95"] is not None
    assert s["integrated_brier_score"]["months"] == [5.0, 40.0]
    assert s["oracle_c_index"] == pytest.approx(1.0)


def test_segmentation_summary() -> None:
    s = summaries.segmentation([0.0, 0.04, 0.5, 0.8, 0.9], rounds=50)
    assert s["patients"] == 5 and s["below_0_05"] == 2 and s["dice_median"] == 0.5
    assert s["dice_mean"]["value"] == pytest.approx(0.448) and s["dice_mean"]["ci95"] is None
    s = summaries.segmentation(np.linspace(0.1, 0.9, 20), rounds=50)
    assert s["dice_mean"]["ci95"] is not None
