"""The study's encodings of clinical records into model columns.

Two feature sets reproduce the study's dimensions:

* ``paper_preoperative`` — 5 variables → 5 columns (the study's 65,541 = 65,536 pixels + 5):
  age and SCC antigen min-max scaled, comorbidity and LEEP history as 0/1, HPV as a 0/1
  indicator of type 16/18 (the only way 4 HPV levels fit in one column; unknown counts as 0).
* ``paper_postoperative`` — 21 variables → 57 columns (65,593 = 65,536 + 57): the 5 continuous
  variables min-max scaled, every categorical variable one-hot over all its levels (yes/no → 2).

Min-max bounds and the medians that replace a missing optional value are learned by ``fit`` on the
training records; at transform time scaled values are clipped to [0, 1] so that a value outside
the training range cannot push the model out of the space it was trained on. The same
:class:`EncodingPlan` drives the ONNX pipelines built at training time, so serving sees exactly
these columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from cervixai.clinical.schema import BY_NAME, Kind, Stage, Variable, variables_for


class ColumnKind(StrEnum):
    MINMAX = "minmax"        # (x - min) / (max - min), clipped to [0, 1]
    INDICATOR = "indicator"  # 1.0 when the variable equals `level`, else 0.0


@dataclass(frozen=True)
class Column:
    """One model column: which variable it reads and how."""

    name: str
    variable: str
    kind: ColumnKind
    level: str | None = None


@dataclass(frozen=True)
class EncodingPlan:
    """The ordered columns of one clinical feature set."""

    feature_set: str
    stage: Stage
    columns: tuple[Column, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for c in self.columns:
            seen.setdefault(c.variable)
        return tuple(seen)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _onehot(var: Variable) -> list[Column]:
    return [Column(f"{var.name}={lvl}", var.name, ColumnKind.INDICATOR, lvl) for lvl in var.levels]


def _minmax(var: Variable) -> Column:
    return Column(var.name, var.name, ColumnKind.MINMAX)


def plan(feature_set: str) -> EncodingPlan:
    """The plan for ``paper_preoperative`` or ``paper_postoperative``."""
    if feature_set == "paper_preoperative":
        cols = [
            _minmax(BY_NAME["age_years"]),
            Column("comorbidity=yes", "comorbidity", ColumnKind.INDICATOR, "yes"),
            Column("hpv_status=hpv16_18", "hpv_status", ColumnKind.INDICATOR, "hpv16_18"),
            _minmax(BY_NAME["scca_ng_ml"]),
            Column("leep_history=yes", "leep_history", ColumnKind.INDICATOR, "yes"),
        ]
        return EncodingPlan(feature_set, Stage.PREOPERATIVE, tuple(cols))
    if feature_set == "paper_postoperative":
        variables = variables_for(Stage.POSTOPERATIVE)
        cont = [_minmax(v) for v in variables if v.kind is Kind.CONTINUOUS]
        cat = [c for v in variables if v.kind is Kind.CATEGORICAL for c in _onehot(v)]
        return EncodingPlan(feature_set, Stage.POSTOPERATIVE, tuple(cont + cat))
    raise ValueError(f"unknown clinical feature set {feature_set!r}; "
                     "expected 'paper_preoperative' or 'paper_postoperative'")


Records = Sequence[dict[str, object]] | Sequence[object]


class ClinicalEncoder:
    """Encode validated clinical records into a float32 matrix (scikit-learn style).

    Parameters
    ----------
    feature_set : the name of an :func:`plan` feature set.
    """

    def __init__(self, feature_set: str = "paper_postoperative") -> None:
        self.feature_set = feature_set

    def fit(self, records: Sequence[object], y: object = None) -> ClinicalEncoder:
        """Learn min-max bounds and medians of the continuous variables from ``records``."""
        plan_ = plan(self.feature_set)
        if len(records) == 0:
            raise ValueError("cannot fit ClinicalEncoder on zero records")
        self.plan_ = plan_
        self.minimum_: dict[str, float] = {}
        self.maximum_: dict[str, float] = {}
        self.median_: dict[str, float] = {}
        for col in plan_.columns:
            if col.kind is not ColumnKind.MINMAX:
                continue
            values = np.array([_get(r, col.variable) for r in records], dtype=object)
            given = np.array([float(v) for v in values if v is not None], dtype=np.float64)
            if given.size == 0:
                raise ValueError(f"{col.variable}: no record gives a value; cannot learn its scale")
            self.minimum_[col.variable] = float(given.min())
            self.maximum_[col.variable] = float(given.max())
            self.median_[col.variable] = float(np.median(given))
        return self

    def transform(self, records: Sequence[object]) -> npt.NDArray[np.float32]:
        """The (n_records, n_columns) float32 matrix."""
        if not hasattr(self, "plan_"):
            raise RuntimeError("ClinicalEncoder is not fitted; call fit() first")
        out = np.zeros((len(records), len(self.plan_.columns)), dtype=np.float32)
        for j, col in enumerate(self.plan_.columns):
            for i, record in enumerate(records):
                value = _get(record, col.variable)
                if col.kind is ColumnKind.MINMAX:
                    x = self.median_[col.variable] if value is None else float(value)  # type: ignore[arg-type]
                    lo, hi = self.minimum_[col.variable], self.maximum_[col.variable]
                    out[i, j] = 0.0 if hi == lo else min(max((x - lo) / (hi - lo), 0.0), 1.0)
                else:
                    out[i, j] = 1.0 if value == col.level else 0.0
        return out

    def fit_transform(self, records: Sequence[object], y: object = None) -> npt.NDArray[np.float32]:
        return self.fit(records).transform(records)

    def get_feature_names_out(self) -> npt.NDArray[np.str_]:
        return np.array(plan(self.feature_set).names)


def _get(record: object, name: str) -> object:
    if isinstance(record, dict):
        return record.get(name)
    getter = getattr(record, "get", None)
    if getter is None:
        raise TypeError(f"records must be mappings, got {type(record).__name__}")
    return getter(name)
