"""Harrell's C, Kaplan–Meier and the IPCW Brier score of served survival estimates."""

from __future__ import annotations

import numpy as np
import pytest

from cervixai.evaluate import survival_metrics as sm

# Four patients: events at 1 and 3, censored at 2 and 4. The censoring distribution G steps to
# 2/3 at 2 (3 at risk) and to 0 at 4, so G(1−) = 1, G(3−) = G(2.5) = G(3.5) = 2/3.
MONTHS = [1.0, 2.0, 3.0, 4.0]
EVENTS = [1, 0, 1, 0]
# predicted S_i(t) at t = 2.5 and t = 3.5
SURVIVAL = np.array([[0.2, 0.1], [0.6, 0.5], [0.7, 0.6], [0.9, 0.8]])


def test_kaplan_meier_hand_case() -> None:
    times, survival = sm.kaplan_meier(MONTHS, EVENTS)
    assert times.tolist() == [1.0, 3.0]
    assert survival == pytest.approx([3 / 4, 3 / 4 * 1 / 2])


def test_kaplan_meier_of_the_censoring() -> None:
    times, survival = sm.kaplan_meier(MONTHS, 1 - np.array(EVENTS))
    assert times.tolist() == [2.0, 4.0]
    assert survival == pytest.approx([2 / 3, 0.0])


def test_brier_score_hand_case() -> None:
    # t = 2.5: 0.2²/1 (died at 1) + 0 (censored at 2) + 0.3²/(2/3) + 0.1²/(2/3) = 0.19, / 4
    # t = 3.5: 0.1²/1 + 0 + 0.6²/G(3−) (died at 3) + 0.2²/(2/3) = 0.61, / 4
    scores = sm.brier_scores(MONTHS, EVENTS, SURVIVAL, [2.5, 3.5])
    assert scores == pytest.approx([0.0475, 0.1525])


def test_integrated_brier_score_hand_case() -> None:
    # the trapezoid over [2.5, 3.5]: (0.0475 + 0.1525) / 2
    assert sm.integrated_brier_score(MONTHS, EVENTS, SURVIVAL, [2.5, 3.5]) == pytest.approx(0.1)


def test_brier_score_refuses_times_where_the_censoring_estimate_is_zero() -> None:
    with pytest.raises(ValueError, match="censoring estimate reaches 0"):
        sm.brier_scores(MONTHS, EVENTS, np.full((4, 1), 0.5), [4.5])


def test_brier_score_agrees_with_scikit_survival() -> None:
    sksurv_metrics = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    rng = np.random.default_rng(7)
    n = 60
    months = rng.exponential(30, n) + rng.random(n) * 1e-3     # no ties
    events = (rng.random(n) < 0.6).astype(int)
    grid = np.linspace(np.percentile(months, 10), np.percentile(months, 80), 7)
    survival = np.exp(-grid[None, :] / rng.uniform(10, 60, n)[:, None])
    y = Surv.from_arrays(events.astype(bool), months)
    _, expected = sksurv_metrics.brier_score(y, y, survival, grid)
    assert sm.brier_scores(months, events, survival, grid) == pytest.approx(expected, rel=1e-9)


def test_perfect_and_useless_predictions() -> None:
    months = np.array([1.0, 2.0, 3.0, 5.0, 6.0])
    events = np.array([1, 1, 1, 1, 1])
    grid = np.array([1.5, 2.5, 3.5, 4.5])
    perfect = (months[:, None] > grid[None, :]).astype(float)
    assert sm.integrated_brier_score(months, events, perfect, grid) == pytest.approx(0.0)
    assert sm.integrated_brier_score(months, events, np.full((5, 4), 0.5), grid) == \
        pytest.approx(0.25)


def test_curve_matrix_is_a_right_continuous_step_function() -> None:
    curves = [[(0.0, 1.0), (10.0, 0.8), (20.0, 0.5)], [(0.0, 1.0), (5.0, 0.9)]]
    values = sm.curve_matrix(curves, [0.0, 9.9, 10.0, 15.0, 25.0])
    assert values.tolist() == [[1.0, 1.0, 0.8, 0.8, 0.5], [1.0, 0.9, 0.9, 0.9, 0.9]]


def test_c_index_hand_case_and_no_event() -> None:
    # comparable pairs: (1 vs 2, 3, 4) and (3 vs 4); risk orders three of the four right
    assert sm.c_index(MONTHS, EVENTS, [4.0, 3.0, 1.0, 2.0]) == pytest.approx(3 / 4)
    assert sm.c_index(MONTHS, [0, 0, 0, 0], [1.0, 2.0, 3.0, 4.0]) is None


def test_evaluation_grid_spans_the_10th_to_90th_percentile() -> None:
    grid = sm.evaluation_grid(np.arange(0.0, 101.0))
    assert grid[0] == pytest.approx(10.0) and grid[-1] == pytest.approx(90.0)
    assert len(grid) == sm.GRID_POINTS
