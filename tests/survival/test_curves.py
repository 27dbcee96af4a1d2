"""Survival curves from a risk score and a baseline table (the serving side of the Cox model)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cervixai.survival.curves import BaselineSurvival, horizons_beyond, summarise

BASE = BaselineSurvival(np.array([6.0, 12.0, 30.0]), np.array([0.9, 0.7, 0.4]), 50.0)


def test_step_function_and_proportional_hazards() -> None:
    at = BASE.at([0.0], [0.0, 5.9, 6.0, 11.0, 12.0, 40.0, 60.0])[0]
    np.testing.assert_allclose(at, [1.0, 1.0, 0.9, 0.9, 0.7, 0.4, 0.4])
    np.testing.assert_allclose(BASE.at([np.log(2.0)], [12.0])[0], [0.49])
    np.testing.assert_allclose(BASE.curves([0.0, np.log(2.0)]), [[0.9, 0.7, 0.4],
                                                               [0.81, 0.49, 0.16]])


@pytest.mark.parametrize(("risk", "median", "reached"), [
    (0.0, 30.0, True),            # 0.7 at 12, 0.4 at 30
    (np.log(2.0), 12.0, True),    # 0.49 at 12
    (-3.0, None, False),          # stays above 0.5 for the whole follow-up
])
def test_summary_median(risk: float, median: float | None, reached: bool) -> None:
    s = summarise(BASE.times_months, BASE.curves([risk])[0], BASE.follow_up_months)
    assert (s.median_months is not None) is reached
    assert s.median_months == median
    assert s.points[0] == (0.0, 1.0)
    assert all(b[1] <= a[1] for a, b in itertools.pairwise(s.points))
    assert s.follow_up_months == 50.0
    assert set(s.at_horizons) == {12.0, 36.0, 60.0}


def test_json_round_trip_and_horizons() -> None:
    again = BaselineSurvival.from_json(BASE.to_json(outcome="rfs"))
    np.testing.assert_array_equal(again.times_months, BASE.times_months)
    np.testing.assert_array_equal(again.survival, BASE.survival)
    assert horizons_beyond(50.0) == [60.0]
    assert horizons_beyond(61.0) == []


@pytest.mark.parametrize(("times", "survival", "message"), [
    ([1.0, 1.0], [0.9, 0.8], "strictly increasing"),
    ([1.0, 2.0], [0.8, 0.9], "non-increasing"),
    ([1.0, 2.0], [0.9], "equal-length"),
])
def test_bad_tables_are_refused(times: list[float], survival: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BaselineSurvival(np.array(times), np.array(survival), 10.0)
    with pytest.raises(ValueError, match="malformed"):
        BaselineSurvival.from_json(b'{"times_months": [1.0]}')
