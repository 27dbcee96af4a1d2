"""The input layout of an exported survival graph, shared by training and serving.

An exported model takes up to two float32 tensors:

* ``clinical`` float64 (n, 57): the columns of the ``paper_postoperative`` encoding plan,
  *before* scaling — continuous variables as their value in the schema's unit (NaN when not
  given), indicator columns as 0/1. The graph imputes, min-max scales and clips exactly as
  :class:`cervixai.clinical.ClinicalEncoder` does (in float64, then float32, so the result is
  bit-identical), so scaling lives in one place (the graph).
* ``image`` float32 (n, k): :func:`cervixai.features.image_vector` of the model's feature set
  (absent for the ``clinical`` feature set).

:func:`clinical_columns` and :func:`model_inputs` are the one code path that builds these arrays,
used by the training parity check and by the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from cervixai.clinical.encode import ColumnKind, EncodingPlan, plan
from cervixai.features import ImageFeatureValues, image_vector

CLINICAL_PLAN = "paper_postoperative"
CLINICAL_INPUT = "clinical"
IMAGE_INPUT = "image"
RISK_OUTPUT = "risk_score"
REGRESSION_OUTPUT = "months"
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Feeds = dict[str, npt.NDArray[Any]]   # input name → array, as onnxruntime takes them


def clinical_plan() -> EncodingPlan:
    return plan(CLINICAL_PLAN)


def clinical_columns(records: Sequence[Mapping[str, object]],
                     encoding: EncodingPlan | None = None) -> F64:
    """Unscaled plan columns of validated records: (n, len(plan.columns)) float64."""
    encoding = encoding or clinical_plan()
    out = np.zeros((len(records), len(encoding.columns)), dtype=np.float64)
    for j, column in enumerate(encoding.columns):
        for i, record in enumerate(records):
            value = record.get(column.variable)
            if column.kind is ColumnKind.MINMAX:
                out[i, j] = np.nan if value is None else float(value)  # type: ignore[arg-type]
            else:
                out[i, j] = 1.0 if value == column.level else 0.0
    return out


def image_columns(feature_set: str, features: Sequence[ImageFeatureValues]) -> F32:
    """The image part of ``feature_set`` for each patient: (n, k) float32."""
    if feature_set == "clinical":
        return np.zeros((len(features), 0), dtype=np.float32)
    return np.stack([image_vector(feature_set, f) for f in features]).astype(np.float32)


def model_inputs(feature_set: str, records: Sequence[Mapping[str, object]],
                 features: Sequence[ImageFeatureValues] | None) -> Feeds:
    """The feeds of an exported graph for ``records`` (and their image features)."""
    feeds: Feeds = {CLINICAL_INPUT: clinical_columns(records)}
    if feature_set != "clinical":
        if features is None or len(features) != len(records):
            raise ValueError(f"feature set {feature_set!r} needs image features for every record")
        feeds[IMAGE_INPUT] = image_columns(feature_set, features)
    return feeds
