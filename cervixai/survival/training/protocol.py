"""The training protocol: design matrices, model grid, cross-validation, test-set evaluation.

As in the study: the cohort's ``split`` column gives the 8:2 train/test split; hyperparameters are
chosen by 5-fold cross-validation on the training part (folds stratified by event). Paper models
are tuned on mean absolute error of the observed months (their objective), censoring-aware models
on the integrated Brier score (their CV Harrell's C is what the choice rule compares). Every test
metric gets a bootstrap 95% interval.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import RandomForestRegressor  # type: ignore[import-untyped, unused-ignore]
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # type: ignore[import-untyped, unused-ignore]
from sklearn.neighbors import KNeighborsRegressor  # type: ignore[import-untyped, unused-ignore]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped, unused-ignore]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped, unused-ignore]
from sklearn.svm import SVR  # type: ignore[import-untyped, unused-ignore]
from sklearn.tree import DecisionTreeRegressor  # type: ignore[import-untyped, unused-ignore]
from sksurv.ensemble import RandomSurvivalForest  # type: ignore[import-untyped, unused-ignore]

from cervixai.clinical import ClinicalEncoder
from cervixai.evaluation import MIN_RELIABLE_COUNT
from cervixai.survival.curves import HORIZONS_MONTHS
from cervixai.survival.inputs import CLINICAL_PLAN
from cervixai.survival.training import metrics as sm
from cervixai.survival.training.data import SurvivalData
from cervixai.survival.training.estimators import ObservedTimeRegressor, RidgeCox

log = logging.getLogger(__name__)
F32 = npt.NDArray[np.float32]

PAPER = "paper"
CENSORING_AWARE = "censoring-aware"


@dataclass(frozen=True)
class ModelSpec:
    """One algorithm of the report: its estimator, grid, and which feature sets it runs on."""

    name: str
    family: str
    estimator: Any
    grid: dict[str, list[Any]]
    quick: dict[str, Any]
    feature_sets: tuple[str, ...] = ("paper", "radiomics", "clinical")
    exportable: bool = False


def model_specs(seed: int = 0, n_estimators: int = 200) -> list[ModelSpec]:
    scaled_knn = make_pipeline(StandardScaler(), KNeighborsRegressor(weights="distance"))
    scaled_svr = make_pipeline(StandardScaler(), SVR())
    compact = ("radiomics", "clinical")   # Cox and the forest are not fitted on 65,593 pixels
    return [
        ModelSpec("weighted_knn", PAPER, ObservedTimeRegressor(scaled_knn),
                  {"regressor__kneighborsregressor__n_neighbors": [5, 10, 20, 40]},
                  {"regressor__kneighborsregressor__n_neighbors": 10}),
        ModelSpec("svr", PAPER, ObservedTimeRegressor(scaled_svr),
                  {"regressor__svr__C": [1.0, 10.0, 100.0]}, {"regressor__svr__C": 10.0}),
        ModelSpec("random_forest", PAPER, ObservedTimeRegressor(RandomForestRegressor(
                      n_estimators=n_estimators, max_features="sqrt", random_state=seed,
                      n_jobs=2)),
                  {"regressor__min_samples_leaf": [1, 5, 20]}, {"regressor__min_samples_leaf": 5}),
        ModelSpec("regression_tree", PAPER, ObservedTimeRegressor(DecisionTreeRegressor(
                      min_samples_leaf=5, random_state=seed)),
                  {"regressor__max_depth": [3, 5, 8]}, {"regressor__max_depth": 5}),
        ModelSpec("ridge_cox", CENSORING_AWARE, RidgeCox(),
                  {"alpha": [1.0, 10.0, 100.0, 300.0, 1000.0, 3000.0]}, {"alpha": 100.0}, compact,
                  exportable=True),
        ModelSpec("random_survival_forest", CENSORING_AWARE, RandomSurvivalForest(
                      n_estimators=n_estimators, max_features="sqrt", random_state=seed,
                      n_jobs=2),
                  {"min_samples_leaf": [10, 30]}, {"min_samples_leaf": 15}, compact),
    ]


@dataclass
class Design:
    """Encoder fitted on the training part and the matrices it gives."""

    feature_set: str
    encoder: ClinicalEncoder
    train: F32
    test: F32


def design(train: SurvivalData, test: SurvivalData, feature_set: str) -> Design:
    encoder = ClinicalEncoder(CLINICAL_PLAN).fit(train.records)

    def matrix(data: SurvivalData) -> F32:
        return np.hstack([encoder.transform(data.records), data.image_matrix(feature_set)])

    return Design(feature_set, encoder, matrix(train), matrix(test))


@dataclass
class Result:
    """A fitted model and its scores on the evaluation set."""

    model: str
    family: str
    outcome: str
    feature_set: str
    params: dict[str, Any]
    cv_score: float                 # CV Harrell's C (censoring-aware) or −MAE months (paper)
    estimator: Any
    exportable: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0


def fit(spec: ModelSpec, X: F32, y: npt.NDArray[np.void], *, quick: bool, folds: int = 5,
        seed: int = 0) -> tuple[Any, dict[str, Any], float]:
    """Fit ``spec`` (grid search on CV folds unless ``quick``); return estimator, params, CV score
    (NaN when quick)."""
    from sklearn.base import clone  # type: ignore[import-untyped, unused-ignore]

    if quick:
        estimator = clone(spec.estimator).set_params(**spec.quick)
        return estimator.fit(X, y), dict(spec.quick), float("nan")
    n_folds = min(folds, int(y["event"].sum()), int((~y["event"]).sum()))
    if n_folds < 2:
        raise ValueError(f"cross-validation needs at least 2 events and 2 censored patients in "
                         f"the training part, got {int(y['event'].sum())} events")
    splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed)
                  .split(X, y["event"]))
    if spec.family == PAPER:
        search = GridSearchCV(clone(spec.estimator), spec.grid, cv=splits, n_jobs=1,
                              error_score="raise")
        search.fit(X, y)
        return search.best_estimator_, dict(search.best_params_), float(search.best_score_)
    # Censoring-aware: hyperparameters by the integrated Brier score (a proper score: Harrell's C
    # hardly moves with the ridge penalty, so choosing on it picks an over-shrunk, badly
    # calibrated model); the reported CV score is Harrell's C of that choice.
    search = GridSearchCV(clone(spec.estimator), spec.grid, cv=splits, n_jobs=1,
                          error_score="raise", refit="ibs",
                          scoring={"ibs": _neg_ibs, "c": _harrell_scorer})
    search.fit(X, y)
    c_index = search.cv_results_["mean_test_c"][search.best_index_]
    return search.best_estimator_, dict(search.best_params_), float(c_index)


def _harrell_scorer(estimator: Any, X: F32, y: npt.NDArray[np.void]) -> float:
    return sm.harrell(y, estimator.predict(X))


def _neg_ibs(estimator: Any, X: F32, y: npt.NDArray[np.void]) -> float:
    """−IBS on a validation fold (its own Kaplan–Meier estimate of censoring)."""
    times = sm.evaluation_times(y, y, n=20)
    survival = sm.survival_matrix(estimator.predict_survival_function(X), times)
    return -sm.ibs(y, y, survival, times)


def evaluate(result: Result, X: F32, y_train: npt.NDArray[np.void], y: npt.NDArray[np.void],
             *, rounds: int, seed: int = 0) -> dict[str, Any]:
    """Test-set metrics with bootstrap 95% intervals."""
    estimator = result.estimator
    risk = np.asarray(estimator.predict(X), dtype=np.float64)
    tau = float(y_train["time"].max())
    if result.family == PAPER:
        months = estimator.predict_months(X)
    else:
        months = sm.restricted_mean(estimator.predict_survival_function(X), tau)
    out: dict[str, Any] = {"n": len(y), "events": int(y["event"].sum())}

    def with_ci(name: str, metric: Any) -> None:
        try:
            out[name] = metric(np.arange(len(y)))
        except ValueError as e:
            out[name] = float("nan")
            log.warning("%s: %s", name, e)
        out[f"{name}_ci"] = sm.bootstrap(metric, len(y), rounds=rounds, seed=seed)

    with_ci("mae_events", lambda i: sm.mae(y[i], months[i], events_only=True))
    with_ci("mae_all", lambda i: sm.mae(y[i], months[i], events_only=False))
    with_ci("harrell_c", lambda i: sm.harrell(y[i], risk[i]))
    tau_uno = float(min(tau, y["time"].max()) - 1e-6)
    with_ci("uno_c", lambda i: sm.uno(y_train, y[i], risk[i], tau_uno))
    if result.family == CENSORING_AWARE and y["event"].any():
        functions = estimator.predict_survival_function(X)
        times = sm.evaluation_times(y_train, y)
        survival = sm.survival_matrix(functions, times)
        with_ci("ibs", lambda i: sm.ibs(y_train, y[i], survival[i], times))
        out["ibs_months"] = (float(times[0]), float(times[-1]))
        at = sm.survival_matrix(functions, HORIZONS_MONTHS)
        calibration = {}
        for k, t in enumerate(HORIZONS_MONTHS):
            c = sm.calibration(y, at[:, k], t)
            calibration[f"{t:g}"] = None if c is None else {
                "predicted": c.predicted_mean, "observed_km": c.observed_km,
                "mean_abs_error": c.mean_abs_error, "groups": c.groups,
                "brier": _or_nan(lambda k=k, t=t: sm.brier_at(y_train, y, at[:, k], t))}
        out["calibration"] = calibration
    out["reliable"] = out["events"] >= MIN_RELIABLE_COUNT
    if not out["reliable"]:   # no interval that a handful of events cannot support
        for key in [k for k in out if k.endswith("_ci")]:
            out[key] = (math.nan, math.nan)
    return out


def _or_nan(metric: Any) -> float:
    """The metric, or NaN where it is undefined (e.g. no event in the evaluation set)."""
    try:
        return float(metric())
    except ValueError as e:
        log.warning("metric undefined: %s", e)
        return float("nan")


def oracle_metrics(y_train: npt.NDArray[np.void], y: npt.NDArray[np.void],
                   oracle_risk: npt.NDArray[np.float64], *, rounds: int, seed: int = 0
                   ) -> dict[str, Any]:
    """The true risk's C-indices on the evaluation set: the ceiling for every model."""
    tau = float(min(y_train["time"].max(), y["time"].max()) - 1e-6)
    return {"oracle_harrell_c": _or_nan(lambda: sm.harrell(y, oracle_risk)),
            "oracle_harrell_c_ci": sm.bootstrap(lambda i: sm.harrell(y[i], oracle_risk[i]),
                                                len(y), rounds=rounds, seed=seed),
            "oracle_uno_c": _or_nan(lambda: sm.uno(y_train, y, oracle_risk, tau))}


def run_outcome(specs: Sequence[ModelSpec], outcome: str, train: SurvivalData,
                test: SurvivalData, feature_sets: Sequence[str], *, quick: bool, rounds: int,
                seed: int = 0, folds: int = 5) -> list[Result]:
    """Fit and score every spec on every feature set it supports."""
    results = []
    y_train, y_test = train.y[outcome], test.y[outcome]
    oracle = ({} if test.oracle_risk is None else
              oracle_metrics(y_train, y_test, test.oracle_risk[outcome], rounds=rounds, seed=seed))
    for feature_set in feature_sets:
        d = design(train, test, feature_set)
        for spec in specs:
            if feature_set not in spec.feature_sets:
                continue
            started = time.perf_counter()
            estimator, params, cv = fit(spec, d.train, y_train, quick=quick, seed=seed,
                                        folds=folds)
            result = Result(spec.name, spec.family, outcome, feature_set, params, cv, estimator,
                            spec.exportable, fit_seconds=time.perf_counter() - started)
            result.metrics = {**evaluate(result, d.test, y_train, y_test, rounds=rounds,
                                         seed=seed), **oracle}
            log.info("%s %s %s: C %.3f (cv %.3f) in %.1f s", outcome, feature_set, spec.name,
                     result.metrics["harrell_c"], cv, result.fit_seconds)
            results.append(result)
    return results


def choose(results: Sequence[Result], outcome: str, feature_set: str) -> tuple[Result, str]:
    """The rule: among the censoring-aware models on ``feature_set``, the exportable one with the
    highest cross-validated Harrell's C. The note says when a model that cannot be exported
    scored higher on CV."""
    pool = [r for r in results if r.outcome == outcome and r.feature_set == feature_set
            and r.family == CENSORING_AWARE]
    exportable = [r for r in pool if r.exportable]
    if not exportable:
        raise ValueError(f"no exportable censoring-aware model was fitted for {outcome} on "
                         f"{feature_set}")
    chosen = max(exportable, key=lambda r: np.nan_to_num(r.cv_score, nan=-1.0))
    best = max(pool, key=lambda r: np.nan_to_num(r.cv_score, nan=-1.0))
    note = ""
    if best is not chosen and best.cv_score > chosen.cv_score:
        note = (f"{best.model} had a higher CV C ({best.cv_score:.3f} vs {chosen.cv_score:.3f}) "
                f"but has no ONNX converter (scikit-survival forests); {chosen.model} is exported")
    return chosen, note
