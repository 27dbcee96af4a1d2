"""The weighted k-nearest-neighbour classifier of the study, as a scikit-learn estimator.

The study's weighted KNN weights each neighbour's vote inversely to its class frequency in the
training data, so that a rare positive neighbour counts as much as the many negatives around it.
scikit-learn's ``KNeighborsClassifier`` has no class weights (and its ``weights='distance'`` ONNX
conversion is wrong), so this estimator has its own ONNX converter
(:mod:`cervixai.classification.training.export`). With ``class_weight=None`` it is the plain
KNN of the study. The weighted decision tree is scikit-learn's ``DecisionTreeClassifier`` with
``class_weight='balanced'`` (class-weighted impurity at every split).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

F64 = npt.NDArray[np.float64]

# Up to this many features distances are summed from differences, which is exact for rows that
# differ in a few one-hot columns (so ties break the same way in float32 ONNX and float64 numpy);
# wider inputs (65k lesion-slice pixels) use ‖x‖² − 2x·t + ‖t‖², one matrix product.
DIRECT_WIDTH = 1024
# Added to a neighbour's distance before inverting it, so that a duplicate of a training row gets a
# large finite weight instead of infinity (the ONNX graph uses the same constant).
DISTANCE_EPSILON = 1e-6


class WeightedKNeighborsClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """k-nearest neighbours whose votes are weighted by class (and optionally by 1 / distance).

    Parameters
    ----------
    n_neighbors : neighbours that vote (fewer when the training set is smaller).
    weights : ``'uniform'`` or ``'distance'`` (vote × 1 / (distance + 1e-6)).
    class_weight : ``'balanced'`` (n_samples / (n_classes × class count), the study's weighting),
        ``None`` (every vote counts 1) or a dict class → weight.

    Ties between equally distant training rows go to the row that came first in the training set
    (as in ONNX TopK), so the ONNX graph picks the same neighbours.
    """

    def __init__(self, n_neighbors: int = 5, weights: str = "uniform",
                 class_weight: str | dict[Any, float] | None = "balanced") -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.class_weight = class_weight

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> WeightedKNeighborsClassifier:
        X_, y_ = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y_)
        if not isinstance(self.n_neighbors, int | np.integer) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        if self.weights not in ("uniform", "distance"):
            raise ValueError(f"weights must be 'uniform' or 'distance', got {self.weights!r}")
        self.classes_, codes = np.unique(y_, return_inverse=True)
        counts = np.bincount(codes, minlength=len(self.classes_)).astype(np.float64)
        if self.class_weight is None:
            weight = np.ones(len(self.classes_))
        elif isinstance(self.class_weight, str) and self.class_weight == "balanced":
            weight = len(codes) / (len(self.classes_) * counts)
        elif isinstance(self.class_weight, dict):
            weight = np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_])
        else:
            raise ValueError("class_weight must be 'balanced', None or a dict, got "
                             f"{self.class_weight!r}")
        self.class_weight_ = weight
        self.fit_X_ = np.ascontiguousarray(X_)
        self.fit_codes_ = codes.astype(np.int64)
        self.n_neighbors_ = int(min(self.n_neighbors, len(codes)))
        return self

    def kneighbors(self, X: npt.ArrayLike) -> tuple[F64, npt.NDArray[np.int64]]:
        """Squared distances and indices of each row's ``n_neighbors_`` nearest training rows."""
        check_is_fitted(self)
        X_ = validate_data(self, X, dtype=np.float64, reset=False)
        train = self.fit_X_
        if train.shape[1] <= DIRECT_WIDTH:
            d2 = np.concatenate([((X_[i:i + 64, None, :] - train[None]) ** 2).sum(axis=2)
                                 for i in range(0, len(X_), 64)] or [np.zeros((0, len(train)))])
        else:
            d2 = ((X_ * X_).sum(axis=1)[:, None] - 2.0 * (X_ @ train.T)
                  + (train * train).sum(axis=1)[None, :])
            np.maximum(d2, 0.0, out=d2)
        index = np.argsort(d2, axis=1, kind="stable")[:, : self.n_neighbors_]
        return np.take_along_axis(d2, index, axis=1), index.astype(np.int64)

    def predict_proba(self, X: npt.ArrayLike) -> F64:
        d2, index = self.kneighbors(X)
        votes = self.class_weight_[self.fit_codes_[index]]
        if self.weights == "distance":
            votes = votes / (np.sqrt(d2) + DISTANCE_EPSILON)
        proba = np.zeros((len(index), len(self.classes_)))
        for c in range(len(self.classes_)):
            proba[:, c] = np.where(self.fit_codes_[index] == c, votes, 0.0).sum(axis=1)
        return np.asarray(proba / proba.sum(axis=1, keepdims=True), dtype=np.float64)

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[Any]:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]  # type: ignore[no-any-return]
