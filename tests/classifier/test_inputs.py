"""The ``features`` tensor and the in-graph preprocessing reproduce the study's columns exactly
for the ``paper`` set (the clinical part equals ClinicalEncoder's output), so training and serving
cannot drift; the other sets differ only where documented (unskewed continuous values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cervixai.classification.inputs import InputLayout, input_layout, model_input
from cervixai.classification.training.algorithms import preprocessor
from cervixai.classification.training.data import load_cohort
from cervixai.clinical import ClinicalEncoder, ClinicalRecord
from cervixai.clinical.encode import ColumnKind, plan
from cervixai.features import FEATURE_NAMES, ImageFeatureValues


@pytest.mark.parametrize(("feature_set", "task", "width", "columns"), [
    ("paper", "parametrial_invasion", 65_541, 65_541),
    ("paper", "death", 65_557, 65_593),
    ("radiomics", "recurrence", len(FEATURE_NAMES) + 21, len(FEATURE_NAMES) + 57),
    ("clinical", "lymph_node_metastasis", 5, 5),
])
def test_widths_match_the_study(clinical_cohort: Path, feature_set: str, task: str, width: int,
                                columns: int) -> None:
    data = load_cohort(clinical_cohort)
    layout = input_layout(feature_set, task)
    rng = np.random.default_rng(0)
    images = [ImageFeatureValues(True, 0, rng.random((256, 256), dtype=np.float32),
                                 {n: float(rng.random()) for n in FEATURE_NAMES})
              for _ in range(len(data.records))]
    X = model_input(layout, data.records, images)
    assert X.shape == (len(data.records), width) and X.dtype == np.float32
    assert preprocessor(layout).fit_transform(X).shape[1] == columns


def _fake_images(n: int, seed: int = 0) -> list[ImageFeatureValues]:
    rng = np.random.default_rng(seed)
    return [ImageFeatureValues(True, 0, rng.random((256, 256), dtype=np.float32),
                               {name: float(rng.normal(50, 20)) for name in FEATURE_NAMES})
            for _ in range(n)]


def _study_columns(layout: InputLayout, records: list[ClinicalRecord]) -> np.ndarray:
    """ClinicalEncoder's columns (the study's encoding) in our order: continuous variables,
    then each categorical variable's indicator columns."""
    reference = ClinicalEncoder(layout.clinical_plan).fit(records).transform(records)
    order = [c.name for c in plan(layout.clinical_plan).columns if c.kind is ColumnKind.MINMAX]
    order += [f"{v}={level}" for v, _, levels in layout.categorical for level in levels]
    names = list(plan(layout.clinical_plan).names)
    return reference[:, [names.index(n) for n in order]]


@pytest.mark.parametrize("task", ["lymph_node_metastasis", "death"])
def test_paper_clinical_columns_equal_the_clinical_encoder(clinical_cohort: Path, task: str
                                                           ) -> None:
    data = load_cohort(clinical_cohort)
    layout = input_layout("paper", task)
    X = model_input(layout, data.records, _fake_images(len(data.records)))
    ours = preprocessor(layout).fit_transform(X)[:, layout.image_width:]
    np.testing.assert_allclose(ours, _study_columns(layout, data.records), atol=1e-6)


@pytest.mark.parametrize("feature_set", ["clinical", "radiomics"])
def test_other_sets_unskew_continuous_values_before_scaling(clinical_cohort: Path,
                                                            feature_set: str) -> None:
    """SCC antigen is log-normal: min-max alone leaves most patients near 0; the Yeo-Johnson
    power spreads them and keeps their order; the categorical columns stay the study's."""
    data = load_cohort(clinical_cohort)
    layout = input_layout(feature_set, "lymph_node_metastasis")
    X = model_input(layout, data.records, _fake_images(len(data.records)))
    ours = preprocessor(layout).fit_transform(X)[:, layout.image_width:]
    study = _study_columns(layout, data.records)
    scca = layout.continuous.index("scca_ng_ml")
    assert np.median(study[:, scca]) < 0.15 < 0.3 < np.median(ours[:, scca]) < 0.7
    assert ours[:, scca].min() == 0.0 and ours[:, scca].max() == pytest.approx(1.0)
    order = np.argsort(X[:, layout.image_width + scca], kind="stable")
    assert (np.diff(ours[order, scca]) >= 0).all()
    n_cont = len(layout.continuous)
    np.testing.assert_array_equal(ours[:, n_cont:], study[:, n_cont:])


def test_missing_values_are_nan_and_unknown_levels_minus_one() -> None:
    layout = input_layout("clinical", "parametrial_invasion")
    record = {"age_years": 50.0, "scca_ng_ml": None, "comorbidity": "no",
              "hpv_status": "unknown", "leep_history": None}
    row = model_input(layout, [record], None)[0]
    assert layout.continuous == ("age_years", "scca_ng_ml")
    assert row[0] == 50.0 and np.isnan(row[1])
    assert list(row[2:]) == [0.0, 3.0, -1.0]


def test_the_layout_records_the_radiomics_names_in_vector_order() -> None:
    layout = input_layout("radiomics", "parametrial_invasion").to_dict()
    assert layout["image_features"] == list(FEATURE_NAMES)
    assert layout["image_width"] == len(FEATURE_NAMES) == 30
    assert input_layout("paper", "death").to_dict()["image_features"] == []


def test_image_feature_sets_need_images() -> None:
    with pytest.raises(ValueError, match="needs image features"):
        model_input(input_layout("radiomics", "death"), [{}], None)
    with pytest.raises(ValueError, match="unknown feature set"):
        input_layout("pixels", "death")


def test_tree_models_split_on_unscaled_values(clinical_cohort: Path) -> None:
    """A float32 rescaling in onnxruntime must not move a value across a tree's split."""
    data = load_cohort(clinical_cohort)
    layout = input_layout("radiomics", "recurrence")
    X = model_input(layout, data.records, _fake_images(len(data.records), seed=1))
    scaled = preprocessor(layout).fit_transform(X)
    raw = preprocessor(layout, scale=False).fit_transform(X)
    assert raw.shape == scaled.shape
    n_raw = layout.image_width + len(layout.continuous)
    # radiomics and present continuous values arrive untouched; the one-hot part is shared
    present = ~np.isnan(X[:, :n_raw])
    np.testing.assert_array_equal(raw[:, :n_raw][present], X[:, :n_raw][present])
    np.testing.assert_array_equal(raw[:, n_raw:], scaled[:, n_raw:])
    assert not np.allclose(scaled[:, :layout.image_width], X[:, :layout.image_width])
