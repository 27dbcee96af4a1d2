"""The input tensor of every exported classifier: one code path for training and serving.

Each ONNX pipeline reads one float32 tensor ``features`` of shape ``(n, width)``, laid out as

1. the image part of the feature set (:func:`cervixai.features.image_vector`): 65,536 lesion-slice
   pixels (``paper``), the radiomics in ``FEATURE_NAMES`` order (``radiomics``) or nothing
   (``clinical``);
2. the raw values of the clinical plan's continuous variables, in schema order, NaN when not
   given (the graph imputes the training median, then min-max scales and clips to [0, 1]);
3. the level codes of the plan's categorical variables, in schema order: the index of the value in
   the variable's schema levels, -1 when not given (the graph one-hot encodes them into exactly the
   columns of :func:`cervixai.clinical.encode.plan`: full one-hot for ``paper_postoperative``, one
   indicator for each ``paper_preoperative`` categorical variable).

So scaling and encoding live inside the graph (no train/serve skew), and the service feeds exactly
what :func:`model_input` builds — the function that training uses for its parity checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cervixai.clinical.encode import ColumnKind, plan
from cervixai.clinical.schema import BY_NAME, Stage
from cervixai.features import FEATURE_NAMES, FEATURE_SETS, ImageFeatureValues, image_vector
from cervixai.grid import SLICE_PIXELS

F32 = npt.NDArray[np.float32]

TASK_STAGE: dict[str, Stage] = {
    "parametrial_invasion": Stage.PREOPERATIVE,
    "lymph_node_metastasis": Stage.PREOPERATIVE,
    "recurrence": Stage.POSTOPERATIVE,
    "death": Stage.POSTOPERATIVE,
}
# Which tasks a request of each stage may ask for (preoperative: no surgical findings yet).
TASKS_BY_STAGE: dict[Stage, tuple[str, ...]] = {
    Stage.PREOPERATIVE: ("parametrial_invasion", "lymph_node_metastasis"),
    Stage.POSTOPERATIVE: ("parametrial_invasion", "lymph_node_metastasis", "recurrence", "death"),
}
IMAGE_WIDTH = {"paper": SLICE_PIXELS, "radiomics": len(FEATURE_NAMES), "clinical": 0}
# The named image columns the manifest records (the 65,536 pixels go unnamed): a bundle trained
# on another radiomics vector — other names, order or length — is refused at load.
IMAGE_FEATURES: dict[str, tuple[str, ...]] = {"paper": (), "radiomics": FEATURE_NAMES,
                                              "clinical": ()}


@dataclass(frozen=True)
class InputLayout:
    """Where each value of the ``features`` tensor comes from (see the module docstring)."""

    feature_set: str
    clinical_plan: str
    continuous: tuple[str, ...]
    # (variable, its schema levels — the code is the index —, the levels that become columns)
    categorical: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]

    @property
    def image_width(self) -> int:
        return IMAGE_WIDTH[self.feature_set]

    @property
    def width(self) -> int:
        return self.image_width + len(self.continuous) + len(self.categorical)

    @property
    def variables(self) -> tuple[str, ...]:
        return (*self.continuous, *(name for name, _, _ in self.categorical))

    def to_dict(self) -> dict[str, Any]:
        return {"feature_set": self.feature_set, "clinical_plan": self.clinical_plan,
                "image_width": self.image_width, "width": self.width,
                "image_features": list(IMAGE_FEATURES[self.feature_set]),
                "continuous": list(self.continuous),
                "categorical": [{"variable": v, "levels": list(levels), "columns": list(cols)}
                                for v, levels, cols in self.categorical]}


def input_layout(feature_set: str, task: str) -> InputLayout:
    """The layout of ``feature_set`` for ``task``: preoperative tasks read the 5 preoperative
    clinical variables, recurrence and death the 21 postoperative ones."""
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; expected one of {FEATURE_SETS}")
    if task not in TASK_STAGE:
        raise ValueError(f"unknown task {task!r}; expected one of {tuple(TASK_STAGE)}")
    plan_name = f"paper_{TASK_STAGE[task].value}"
    encoding = plan(plan_name)
    continuous: list[str] = []
    columns: dict[str, list[str]] = {}
    for column in encoding.columns:
        if column.kind is ColumnKind.MINMAX:
            continuous.append(column.variable)
        else:
            assert column.level is not None
            columns.setdefault(column.variable, []).append(column.level)
    categorical = tuple((name, BY_NAME[name].levels, tuple(levels))
                        for name, levels in columns.items())
    return InputLayout(feature_set, plan_name, tuple(continuous), categorical)


def model_input(layout: InputLayout, records: Sequence[Mapping[str, object]],
                images: Sequence[ImageFeatureValues] | None) -> F32:
    """The ``(len(records), layout.width)`` float32 tensor for validated clinical records and,
    unless the feature set is ``clinical``, each patient's image features."""
    n = len(records)
    out = np.empty((n, layout.width), dtype=np.float32)
    w = layout.image_width
    if w:
        if images is None or len(images) != n:
            raise ValueError(f"feature set {layout.feature_set!r} needs image features for each "
                             f"of the {n} records, got {0 if images is None else len(images)}")
        for i, values in enumerate(images):
            out[i, :w] = image_vector(layout.feature_set, values)
    for j, name in enumerate(layout.continuous, start=w):
        for i, record in enumerate(records):
            value = record.get(name)
            out[i, j] = np.nan if value is None else float(value)  # type: ignore[arg-type]
    start = w + len(layout.continuous)
    for j, (name, levels, _) in enumerate(layout.categorical, start=start):
        for i, record in enumerate(records):
            value = record.get(name)
            out[i, j] = levels.index(str(value)) if value in levels else -1.0
    return out
