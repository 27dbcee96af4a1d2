"""The weighted KNN follows the scikit-learn API, weights votes by class, and its ONNX graph (and
the balanced random forest's) gives scikit-learn's probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from imblearn.ensemble import BalancedRandomForestClassifier
from skl2onnx import to_onnx
from sklearn.utils.estimator_checks import parametrize_with_checks

from cervixai.classification.training import export  # noqa: F401  (registers converters)
from cervixai.classification.training.estimators import WeightedKNeighborsClassifier
from cervixai.onnxrt import ort


@parametrize_with_checks([WeightedKNeighborsClassifier(),
                          WeightedKNeighborsClassifier(weights="distance", class_weight=None)])
def test_sklearn_estimator_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def test_votes_are_weighted_inversely_to_class_frequency() -> None:
    # One positive and four negatives among the 5 nearest: plain votes say 1/5; balanced votes
    # weight the lone positive by 10 / 2 and each of the nine negatives by 10 / 18.
    X = np.array([[0.0], [1.0], [-1.0], [1.0], [-1.0], [5.0], [6.0], [7.0], [8.0], [9.0]])
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    query = np.array([[0.0]])
    plain = WeightedKNeighborsClassifier(n_neighbors=5, class_weight=None).fit(X, y)
    weighted = WeightedKNeighborsClassifier(n_neighbors=5).fit(X, y)
    assert plain.predict_proba(query)[0, 1] == pytest.approx(0.2)
    positive_vote, negative_vote = 10 / (2 * 1), 10 / (2 * 9)   # n / (classes × count)
    expected = positive_vote / (positive_vote + 4 * negative_vote)
    assert weighted.predict_proba(query)[0, 1] == pytest.approx(expected)
    assert weighted.predict(query)[0] == 1 and plain.predict(query)[0] == 0


def test_bad_parameters_are_refused_with_the_value() -> None:
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="'cosine'"):
        WeightedKNeighborsClassifier(weights="cosine").fit(X, y)
    with pytest.raises(ValueError, match="0"):
        WeightedKNeighborsClassifier(n_neighbors=0).fit(X, y)


def _run(model: object, X: np.ndarray) -> np.ndarray:
    onx = to_onnx(model, X[:1].astype(np.float32), options={id(model): {"zipmap": False}},
                  target_opset={"": 18, "ai.onnx.ml": 3})
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})[1])


@pytest.mark.parametrize(("weights", "class_weight", "width"), [
    ("uniform", "balanced", 6), ("distance", "balanced", 6), ("distance", None, 6),
    ("uniform", "balanced", 65_541),
])
def test_weighted_knn_onnx_matches_sklearn(weights: str, class_weight: str | None,
                                           width: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.random((60, width)).astype(np.float32)
    y = (rng.random(60) < 0.25).astype(int)
    model = WeightedKNeighborsClassifier(n_neighbors=7, weights=weights,
                                         class_weight=class_weight).fit(X, y)
    X_new = rng.random((25, width)).astype(np.float32)
    assert np.max(np.abs(_run(model, X_new) - model.predict_proba(X_new))) <= 1e-5


def test_balanced_random_forest_converts_with_parity() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=120) > 1.2).astype(int)
    model = BalancedRandomForestClassifier(n_estimators=20, sampling_strategy="all",
                                           replacement=True, bootstrap=False,
                                           random_state=0).fit(X, y)
    assert np.max(np.abs(_run(model, X) - model.predict_proba(X))) <= 1e-5
