"""Survival estimators in the scikit-survival conventions.

Every estimator here takes a numeric matrix ``X`` and a structured ``y`` with fields ``event``
(bool) and ``time`` (float) — :func:`sksurv.util.Surv.from_arrays` builds one — so any tabular
survival data set can be scored with them, not only a cervixai cohort:

* ``fit(X, y)`` learns; ``predict(X)`` returns a risk score (higher = earlier event);
* ``predict_survival_function(X, return_array=...)`` returns survival functions (censoring-aware
  models only);
* ``score(X, y)`` is Harrell's concordance index, so ``GridSearchCV`` selects by it.

:class:`RidgeCox` is Cox proportional hazards with a ridge penalty on standardised columns.
:class:`ObservedTimeRegressor` is the study's approach: a regressor fitted to the observed months,
events and censored times alike; its risk score is minus the predicted months.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, RegressorMixin, clone  # type: ignore[import-untyped, unused-ignore]
from sklearn.utils.validation import check_is_fitted, validate_data  # type: ignore[import-untyped, unused-ignore]
from sksurv.base import SurvivalAnalysisMixin  # type: ignore[import-untyped, unused-ignore]
from sksurv.linear_model import CoxPHSurvivalAnalysis  # type: ignore[import-untyped, unused-ignore]
from sksurv.util import check_y_survival  # type: ignore[import-untyped, unused-ignore]

F64 = npt.NDArray[np.float64]


class RidgeCox(SurvivalAnalysisMixin, BaseEstimator):  # type: ignore[misc]
    """Cox proportional hazards, ridge-penalised, on standardised columns.

    Parameters
    ----------
    alpha : the ridge penalty (``CoxPHSurvivalAnalysis(alpha=...)``), ≥ 0; applied to the
        coefficients of the standardised columns, so it weighs every column alike.
    ties : ``"breslow"`` or ``"efron"``.

    Fitted attributes: ``mean_``, ``scale_`` (standardisation), ``coef_`` (per standardised
    column), ``model_`` (the CoxPHSurvivalAnalysis), ``unique_times_``, ``event_times_``.
    """

    def __init__(self, alpha: float = 1.0, ties: str = "breslow") -> None:
        self.alpha = alpha
        self.ties = ties

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> RidgeCox:
        X = np.asarray(validate_data(self, X, dtype=np.float64, ensure_min_samples=2))
        event, time = check_y_survival(y)
        if not isinstance(self.alpha, int | float) or self.alpha < 0:
            raise ValueError(f"alpha must be a non-negative number, got {self.alpha!r}")
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.model_ = CoxPHSurvivalAnalysis(alpha=self.alpha, ties=self.ties, n_iter=200)
        self.model_.fit((X - self.mean_) / self.scale_, _structured(event, time))
        self.coef_ = np.asarray(self.model_.coef_, dtype=np.float64)
        self.unique_times_ = self.model_.unique_times_
        self.event_times_ = np.unique(time[event])
        return self

    def _standardise(self, X: npt.ArrayLike) -> F64:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.asarray((X - self.mean_) / self.scale_, dtype=np.float64)

    def predict(self, X: npt.ArrayLike) -> F64:
        """The linear predictor x·β (log relative hazard)."""
        z = self._standardise(X)
        return np.asarray(self.model_.predict(z), dtype=np.float64)

    def predict_survival_function(self, X: npt.ArrayLike, return_array: bool = False) -> Any:
        z = self._standardise(X)
        return self.model_.predict_survival_function(z, return_array=return_array)

    def predict_cumulative_hazard_function(self, X: npt.ArrayLike,
                                           return_array: bool = False) -> Any:
        z = self._standardise(X)
        return self.model_.predict_cumulative_hazard_function(z, return_array=return_array)

    def baseline_survival(self) -> tuple[F64, F64]:
        """Times and S0(t) such that S(t|x) = S0(t) ** exp(predict(x))."""
        check_is_fitted(self, "model_")
        step = self.model_.baseline_survival_
        return np.asarray(step.x, dtype=np.float64), np.asarray(step.y, dtype=np.float64)


class ObservedTimeRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """The study's survival model: ``regressor`` fitted to observed times, censoring ignored.

    ``fit(X, y)`` accepts a structured (event, time) ``y`` (only ``time`` is used — that is the
    point of this baseline) or plain months. ``predict`` returns a risk score (−months) so that it
    is scored like any survival model; ``predict_months`` returns the months.
    """

    def __init__(self, regressor: Any = None) -> None:
        self.regressor = regressor

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> ObservedTimeRegressor:
        X = validate_data(self, X, dtype=np.float64)
        months = _months(y)
        if self.regressor is None:
            raise ValueError("regressor must be a scikit-learn regressor, got None")
        self.regressor_ = clone(self.regressor).fit(X, np.asarray(months, dtype=np.float64))
        return self

    def predict_months(self, X: npt.ArrayLike) -> F64:
        check_is_fitted(self, "regressor_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.asarray(self.regressor_.predict(X), dtype=np.float64)

    def predict(self, X: npt.ArrayLike) -> F64:
        return -self.predict_months(X)

    def score(self, X: npt.ArrayLike, y: npt.ArrayLike, sample_weight: Any = None) -> float:
        """Minus the mean absolute error in months (what the study optimised)."""
        months = _months(y)
        return -float(np.mean(np.abs(self.predict_months(X) - months)))


def _months(y: npt.ArrayLike) -> F64:
    """Observed times of a structured survival array (any field names), or plain months."""
    array = np.asarray(y)
    if array.dtype.names:
        _, time = check_y_survival(array)
        return np.asarray(time, dtype=np.float64)
    return np.asarray(array, dtype=np.float64).ravel()


def _structured(event: npt.ArrayLike, time: npt.ArrayLike) -> npt.NDArray[np.void]:
    y = np.empty(len(np.asarray(time)), dtype=[("event", "?"), ("time", "<f8")])
    y["event"], y["time"] = event, time
    return y
