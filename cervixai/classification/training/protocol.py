"""The study's protocol for one algorithm × task × feature set, plus calibration and threshold.

1. Stratified 5-fold CV on the training split chooses the hyperparameters (AUC), with negatives
   downsampled 1:1 inside each training fold when ``downsample`` is on (the study's setting, for
   reproducing it; off by default, since it discards most of the training patients of a rare
   event).
2. Out-of-fold probabilities of the chosen configuration (same folds) fit a Platt calibration
   sigmoid(a·p + b) on the training split's true class balance — downsampling shifts the raw
   probabilities, the calibration puts them back — and the decision threshold is the highest one
   that reaches the target sensitivity on those calibrated out-of-fold probabilities.
3. The chosen configuration is refit on the whole training split; the exported pipeline is its
   preprocessing and model (the downsampler only acts during fit).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from imblearn.pipeline import Pipeline as ImbPipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from cervixai.classification.inputs import InputLayout
from cervixai.classification.training.algorithms import (
    TREE_ALGORITHMS,
    make_algorithm,
    preprocessor,
)
from cervixai.classification.training.metrics import threshold_for_sensitivity

F64 = npt.NDArray[np.float64]
MIN_POSITIVES = 2


@dataclass(frozen=True)
class Protocol:
    """Options of the protocol: the study's 5-fold CV, a sensitivity target of 0.80, and every
    training patient kept (``downsample=True`` is the study's 1:1 downsampling of negatives,
    which cost up to 0.04 AUC on a 5000-patient evaluation cohort: docs/classifier.md)."""

    folds: int = 5
    downsample: bool = False
    target_sensitivity: float = 0.80
    seed: int = 0
    quick: bool = False


@dataclass
class FittedCandidate:
    """One algorithm fitted for one task and feature set."""

    algorithm: str
    layout: InputLayout
    pipeline: Pipeline              # preprocessing + model, fitted on the whole training split
    hyperparameters: dict[str, Any]
    cv_auc: float
    calibration: tuple[float, float]
    threshold: float
    folds: int
    notes: list[str] = field(default_factory=list)

    def raw_probability(self, features: npt.NDArray[np.float32]) -> F64:
        return np.asarray(self.pipeline.predict_proba(features)[:, 1], dtype=np.float64)

    def probability(self, features: npt.NDArray[np.float32]) -> F64:
        """Calibrated P(event), computed as the exported graph does."""
        return calibrate(self.raw_probability(features), self.calibration)


def calibrate(p: F64, calibration: tuple[float, float]) -> F64:
    a, b = calibration
    return 1.0 / (1.0 + np.exp(-(a * p + b)))


def platt(p: F64, y: npt.NDArray[Any]) -> tuple[float, float]:
    """(a, b) of sigmoid(a·p + b) fitted by (nearly unpenalised) logistic regression."""
    model = LogisticRegression(C=1e4, max_iter=1000).fit(p.reshape(-1, 1), y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def check_trainable(y: npt.NDArray[Any], task: str) -> str | None:
    """Why ``task`` cannot be trained on these labels, or None."""
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives < MIN_POSITIVES or negatives < MIN_POSITIVES:
        return (f"{task}: the training split has {positives} positive and {negatives} negative "
                f"patients; at least {MIN_POSITIVES} of each are needed for stratified CV")
    return None


def fit_candidate(algorithm: str, layout: InputLayout, X: npt.NDArray[np.float32],
                  y: npt.NDArray[Any], protocol: Protocol) -> FittedCandidate:
    """Run the protocol for one algorithm on the training split (X, y)."""
    estimator, grid = make_algorithm(algorithm, protocol.seed, quick=protocol.quick)
    positives = int(y.sum())
    folds = min(protocol.folds, positives, len(y) - positives)
    notes = [] if folds == protocol.folds else [f"{folds}-fold CV (only {positives} positives)"]
    steps: list[tuple[str, Any]] = [
        ("prep", preprocessor(layout, scale=algorithm not in TREE_ALGORITHMS))]
    if protocol.downsample:
        steps.append(("downsample", RandomUnderSampler(sampling_strategy=1.0,
                                                       random_state=protocol.seed)))
    steps.append(("model", estimator))
    pipeline = ImbPipeline(steps)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=protocol.seed)
    search = GridSearchCV(pipeline, {f"model__{k}": v for k, v in grid.items()},
                          scoring="roc_auc", cv=cv, refit=True, error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=FutureWarning)  # SVC(probability=True) in 1.9
        search.fit(X, y)
        out_of_fold = cross_val_predict(clone(search.best_estimator_), X, y, cv=cv,
                                        method="predict_proba")[:, 1]
    calibration = platt(out_of_fold, y)
    threshold = threshold_for_sensitivity(y, calibrate(out_of_fold, calibration),
                                          protocol.target_sensitivity)
    fitted = search.best_estimator_
    exported = Pipeline([("prep", fitted.named_steps["prep"]),
                         ("model", fitted.named_steps["model"])])
    hyperparameters = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
    return FittedCandidate(algorithm, layout, exported, hyperparameters,
                           float(search.best_score_), calibration, threshold, folds, notes)
