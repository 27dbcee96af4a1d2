"""Metrics of served predictions and masks, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cervixai.evaluate import metrics as m

# 3 positives, 4 negatives; at 0.5: tp 0.9, 0.6; fn 0.2; fp 0.7; tn 0.3, 0.1, 0.05
Y = [1, 1, 1, 0, 0, 0, 0]
P = [0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05]


def test_confusion_at_one_threshold() -> None:
    c = m.confusion(Y, P, 0.5)
    assert (c.tp, c.fn, c.fp, c.tn) == (2, 1, 1, 3)
    assert c.counts() == {"sensitivity": (2, 3), "specificity": (3, 4), "ppv": (2, 3),
                          "npv": (3, 4)}


def test_confusion_with_each_replys_own_threshold() -> None:
    # the first patient's reply carried 0.95: no longer called positive
    thresholds = [0.95, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    c = m.confusion(Y, P, thresholds)
    assert (c.tp, c.fn, c.fp, c.tn) == (1, 2, 1, 3)


def test_probability_equal_to_threshold_is_positive() -> None:
    assert m.confusion([1], [0.5], 0.5).tp == 1


@pytest.mark.parametrize(("k", "n", "expected"), [(2, 3, 2 / 3), (0, 4, 0.0), (0, 0, None)])
def test_ratio(k: int, n: int, expected: float | None) -> None:
    assert m.ratio(k, n) == expected


def test_auc_hand_case_and_one_class() -> None:
    assert m.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert m.auc([0, 0, 0], [0.1, 0.2, 0.3]) is None
    assert m.auc([1, 1], [0.1, 0.2]) is None


def test_outcomes_must_be_binary() -> None:
    with pytest.raises(ValueError, match="outcomes must be 0/1"):
        m.confusion([0, 2], [0.1, 0.2], 0.5)


def test_calibration_in_the_large_hand_case() -> None:
    c = m.calibration_in_the_large([1, 0, 0, 0, 0], [0.9, 0.5, 0.3, 0.2, 0.1])
    assert c.mean_probability == pytest.approx(0.4)
    assert c.observed_rate == pytest.approx(0.2)
    assert c.difference == pytest.approx(0.2)          # over-prediction is positive
    assert c.standard_error == pytest.approx(math.sqrt(0.2 * 0.8 / 5))


def _bernoulli(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(-1.0, 1.5, n)))
    return (rng.random(n) < p).astype(int), p


def test_calibration_slope_is_one_for_probabilities_drawn_from_their_own_bernoulli() -> None:
    y, p = _bernoulli(20_000, seed=3)
    assert m.calibration_slope(y, p) == pytest.approx(1.0, abs=0.06)


def test_calibration_slope_is_one_half_for_probabilities_twice_too_extreme() -> None:
    y, p = _bernoulli(20_000, seed=4)
    extreme = 1 / (1 + np.exp(-2 * m.logit(p)))
    assert m.calibration_slope(y, extreme) == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize(("y", "p"), [
    ([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4]),          # one class
    ([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]),          # no spread in p
    ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]),          # separated: slope → ∞
])
def test_calibration_slope_not_estimable(y: list[int], p: list[float]) -> None:
    assert m.calibration_slope(y, p) is None


def test_logit_clips_certainties() -> None:
    values = m.logit([0.0, 0.5, 1.0])
    assert np.all(np.isfinite(values)) and values[1] == 0.0
    assert values[0] == pytest.approx(-values[2])


@pytest.mark.parametrize(("truth", "predicted", "expected"), [
    ([1, 1, 0, 0], [1, 0, 0, 0], 2 / 3),
    ([1, 1, 0, 0], [0, 0, 1, 1], 0.0),
    ([1, 1, 0, 0], [1, 1, 0, 0], 1.0),
    ([0, 0, 0, 0], [0, 0, 0, 0], 1.0),             # lesion-free truth, nothing predicted
    ([0, 0, 0, 0], [0, 1, 0, 0], 0.0),             # lesion-free truth, something predicted
    ([1, 0, 0, 0], [0, 0, 0, 0], 0.0),
])
def test_dice(truth: list[int], predicted: list[int], expected: float) -> None:
    shape = (1, 2, 2)
    assert m.dice(np.reshape(truth, shape), np.reshape(predicted, shape)) == pytest.approx(
        expected)


def test_dice_refuses_masks_of_different_shapes() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        m.dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
