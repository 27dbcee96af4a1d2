"""The estimators follow scikit-learn / scikit-survival conventions on any tabular survival data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sksurv.column import encode_categorical
from sksurv.datasets import load_whas500

from cervixai.survival.training.data import survival_array
from cervixai.survival.training.estimators import ObservedTimeRegressor, RidgeCox


@pytest.fixture(scope="module")
def whas500() -> tuple[np.ndarray, np.ndarray]:
    """A public survival data set shipped with scikit-survival (fields fstat, lenfol)."""
    X, y = load_whas500()
    return encode_categorical(X).to_numpy(dtype=float), y


def test_ridge_cox_on_a_public_data_set(whas500: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = whas500
    model = RidgeCox(alpha=1.0).fit(X, y)
    risk = model.predict(X)
    assert risk.shape == (len(X),)
    assert 0.7 < model.score(X, y) < 0.9          # Harrell's C
    functions = model.predict_survival_function(X[:5])
    assert len(functions) == 5
    curves = model.predict_survival_function(X[:5], return_array=True)
    assert np.all(np.diff(curves, axis=1) <= 1e-12) and np.all((curves >= 0) & (curves <= 1))
    # The exported form: S(t|x) = S0(t) ** exp(risk(x)).
    _, s0 = model.baseline_survival()
    np.testing.assert_allclose(s0[None, :] ** np.exp(risk[:5, None]), curves, atol=1e-10)
    # Higher risk, lower survival everywhere.
    hi, lo = int(np.argmax(risk)), int(np.argmin(risk))
    both = model.predict_survival_function(X[[hi, lo]], return_array=True)
    assert np.all(both[0] <= both[1])


def test_estimators_clone_and_grid_search(whas500: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = whas500
    search = GridSearchCV(RidgeCox(), {"alpha": [0.01, 100.0]}, cv=3).fit(X, y)
    assert search.best_params_["alpha"] in (0.01, 100.0)
    copy = clone(RidgeCox(alpha=3.0, ties="efron"))
    assert copy.get_params() == {"alpha": 3.0, "ties": "efron"}
    assert not hasattr(copy, "coef_")


@pytest.mark.parametrize("alpha", [-1.0, "big"])
def test_ridge_cox_rejects_a_bad_penalty(whas500: tuple[np.ndarray, np.ndarray],
                                         alpha: object) -> None:
    X, y = whas500
    with pytest.raises(ValueError, match=f"alpha must be a non-negative number, got {alpha!r}"):
        RidgeCox(alpha=alpha).fit(X, y)  # type: ignore[arg-type]


def test_unfitted_and_wrong_width(whas500: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = whas500
    with pytest.raises(NotFittedError):
        RidgeCox().predict(X)
    model = RidgeCox().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])


def test_observed_time_regressor_ignores_censoring(whas500: tuple[np.ndarray, np.ndarray]
                                                   ) -> None:
    X, y = whas500
    months = y["lenfol"]
    model = ObservedTimeRegressor(LinearRegression()).fit(X, y)
    plain = ObservedTimeRegressor(LinearRegression()).fit(X, months)
    # Only the time is used: fitting on the structured y or on the times is the same model.
    np.testing.assert_allclose(model.predict_months(X), plain.predict_months(X))
    np.testing.assert_allclose(model.predict(X), -model.predict_months(X))
    assert model.score(X, y) == pytest.approx(-np.mean(np.abs(model.predict_months(X) - months)))
    with pytest.raises(ValueError, match="regressor must be"):
        ObservedTimeRegressor().fit(X, y)


def test_censoring_aware_model_ranks_better_under_heavy_censoring() -> None:
    """Exponential times with hazard exp(x·β); follow-up is shorter for patients with a high
    x₃ (enrolled later), which does not change their hazard. Regressing observed times takes
    the short follow-up for short survival; Cox treats a censored time as "at least"."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 4))
    beta = np.array([1.0, -0.7, 0.5, 0.0])
    event_time = rng.exponential(60 * np.exp(-X @ beta))
    follow_up = rng.uniform(5, 40, size=len(X)) * np.exp(-0.8 * X[:, 3])
    y = survival_array(event_time <= follow_up, np.minimum(event_time, follow_up))
    train, test = slice(0, 1000), slice(1000, None)
    cox = RidgeCox(alpha=1.0).fit(X[train], y[train])
    regression = ObservedTimeRegressor(LinearRegression()).fit(X[train], y[train])
    assert cox.score(X[test], y[test]) > 0.02 + RidgeCox.score(regression, X[test], y[test])
    np.testing.assert_allclose(cox.coef_ / cox.scale_,
                               beta, atol=0.2)
