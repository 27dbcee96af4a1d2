"""The study's seven classifiers plus logistic regression, with their hyperparameter grids, and
the preprocessing that turns the ``features`` tensor into model columns."""

from __future__ import annotations

from typing import Any

from imblearn.ensemble import BalancedRandomForestClassifier
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, PowerTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from cervixai.classification.inputs import InputLayout
from cervixai.classification.training.estimators import WeightedKNeighborsClassifier

# Report order: the study's seven, then the simple strong baseline.
ALGORITHMS = ("knn", "svm", "decision_tree", "random_forest", "balanced_random_forest",
              "weighted_decision_tree", "weighted_knn", "logistic_regression")
QUICK_ALGORITHMS = ("logistic_regression", "balanced_random_forest", "weighted_knn")
# Split on raw values: see `preprocessor(scale=False)`.
TREE_ALGORITHMS = frozenset({"decision_tree", "weighted_decision_tree", "random_forest",
                             "balanced_random_forest"})


def make_algorithm(name: str, seed: int, *, quick: bool = False
                   ) -> tuple[BaseEstimator, dict[str, list[Any]]]:
    """An unfitted estimator and its grid (parameter → values) for 5-fold CV."""
    trees = 100
    neighbours = [5, 9, 15] if quick else [3, 5, 9, 15, 25]
    if name == "knn":
        return WeightedKNeighborsClassifier(class_weight=None), {"n_neighbors": neighbours}
    if name == "weighted_knn":
        # the study's weighting is by class only; 1/distance votes are supported but not
        # searched (near-duplicate rows make them unstable between float32 and float64)
        return WeightedKNeighborsClassifier(class_weight="balanced"), {"n_neighbors": neighbours}
    if name == "svm":
        return (SVC(probability=True, random_state=seed),
                {"C": [0.1, 1.0, 10.0], "gamma": ["scale"]})
    if name == "decision_tree":
        return (DecisionTreeClassifier(random_state=seed),
                {"max_depth": [2, 3, 5], "min_samples_leaf": [1, 5]})
    if name == "weighted_decision_tree":
        return (DecisionTreeClassifier(class_weight="balanced", random_state=seed),
                {"max_depth": [2, 3, 5], "min_samples_leaf": [1, 5]})
    if name == "random_forest":
        return (RandomForestClassifier(n_estimators=trees, max_features="sqrt",
                                       random_state=seed),
                {"min_samples_leaf": [1, 5]})
    if name == "balanced_random_forest":
        return (BalancedRandomForestClassifier(n_estimators=trees, max_features="sqrt",
                                               sampling_strategy="all", replacement=True,
                                               bootstrap=False, random_state=seed),
                {"min_samples_leaf": [1, 5]})
    if name == "logistic_regression":
        return (LogisticRegression(max_iter=5000),
                {"C": [0.01, 0.1, 1.0] if quick else [0.001, 0.01, 0.1, 1.0, 10.0]})
    raise ValueError(f"unknown algorithm {name!r}; expected one of {ALGORITHMS}")


def preprocessor(layout: InputLayout, *, scale: bool = True) -> ColumnTransformer:
    """Columns of the ``features`` tensor → model columns: pixels pass through (already in
    [0, 1]); radiomics are standardised; continuous clinical values imputed with the training
    median, min-max scaled and clipped — the study's encoding, which the ``paper`` set keeps;
    the ``radiomics`` and ``clinical`` sets first pass them through a Yeo-Johnson power
    transform fitted on the training split; categorical codes one-hot encoded into the plan's
    columns.

    ``scale=False`` (tree models) leaves radiomics and continuous values unscaled. A tree's
    splits do not change under a monotone rescaling, but onnxruntime rescales in float32 where
    scikit-learn did in float64: a value one float32 step from a split threshold then takes the
    other branch (a balanced random forest trained on 2500 patients differed by 0.004 in
    probability until its inputs reached the trees unscaled).
    """
    # column ranges as slices: numpy views, not 65k-index copies, in scikit-learn
    parts: list[tuple[str, Any, slice]] = []
    w = layout.image_width
    if layout.feature_set == "paper" or (layout.feature_set == "radiomics" and not scale):
        parts.append(("image", "passthrough", slice(0, w)))
    elif layout.feature_set == "radiomics":
        parts.append(("image", StandardScaler(), slice(0, w)))
    continuous = slice(w, w + len(layout.continuous))
    impute = SimpleImputer(strategy="median", keep_empty_features=True)
    if scale:
        steps: list[tuple[str, Any]] = [("impute", impute)]
        if layout.feature_set != "paper":
            # a Yeo-Johnson power learned per variable: a right-skewed value such as SCC
            # antigen (log-normal) would otherwise be crushed against 0 by min-max scaling,
            # where a penalised linear model can hardly use it
            steps.append(("unskew", PowerTransformer(standardize=False)))
        steps.append(("scale", MinMaxScaler(clip=True)))
        parts.append(("continuous", Pipeline(steps), continuous))
    else:
        parts.append(("continuous", impute, continuous))
    start = w + len(layout.continuous)
    categories = [[float(levels.index(level)) for level in columns]
                  for _, levels, columns in layout.categorical]
    parts.append(("categorical", OneHotEncoder(categories=categories, handle_unknown="ignore",
                                               sparse_output=False),
                  slice(start, start + len(layout.categorical))))
    return ColumnTransformer(parts, sparse_threshold=0.0)

