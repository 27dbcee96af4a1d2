"""ONNX export of the ridge Cox model: the graph (fed by the serving code path) matches the
fitted estimator, missing optional values and image columns included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sklearn.tree import DecisionTreeRegressor

from cervixai.survival.inputs import clinical_plan, model_inputs
from cervixai.survival.training import data as sd
from cervixai.survival.training import metrics as sm
from cervixai.survival.training.estimators import ObservedTimeRegressor, RidgeCox
from cervixai.survival.training.export import export_cox, export_regressor, onnx_months, onnx_risk
from cervixai.survival.training.protocol import design


@pytest.fixture(scope="module")
def cohort(clinical_cohort: Path) -> sd.SurvivalData:
    return sd.load(clinical_cohort, images=False)


def test_parity_with_the_fitted_model(cohort: sd.SurvivalData) -> None:
    train, test = cohort.subset(cohort.splits == "train"), cohort.subset(cohort.splits == "test")
    d = design(train, test, "clinical")
    model = RidgeCox(alpha=10.0).fit(d.train, train.y["rfs"])
    exported = export_cox(model, d.encoder, 0, follow_up_months=float(train.y["rfs"]["time"].max()))
    onnx.checker.check_model(onnx.load_from_string(exported.onnx_bytes), full_check=True)
    # Some patients lack the optional tumour size: the graph imputes the training median.
    missing = [i for i, r in enumerate(test.records) if r["tumor_size_cm"] is None]
    feeds = model_inputs("clinical", test.records, None)
    assert np.isnan(feeds["clinical"]).any() == bool(missing)
    risk = onnx_risk(exported.onnx_bytes, feeds)
    np.testing.assert_allclose(risk, model.predict(d.test), atol=1e-5)
    assert feeds["clinical"].dtype == np.float64
    times = np.linspace(0, 50, 30)
    expected = sm.survival_matrix(model.predict_survival_function(d.test), times)
    np.testing.assert_allclose(exported.baseline.at(risk, times), expected, atol=1e-5)


def test_out_of_range_values_are_clipped_like_the_encoder(cohort: sd.SurvivalData) -> None:
    d = design(cohort, cohort, "clinical")
    model = RidgeCox(alpha=10.0).fit(d.train, cohort.y["os"])
    exported = export_cox(model, d.encoder, 0, follow_up_months=50.0)
    record = dict(cohort.records[0])
    record["scca_ng_ml"] = 400.0            # far above every training value
    record["tumor_size_cm"] = None
    encoded = np.hstack([d.encoder.transform([record])])
    risk = onnx_risk(exported.onnx_bytes, model_inputs("clinical", [record], None))
    np.testing.assert_allclose(risk, model.predict(encoded), atol=1e-5)


@pytest.mark.parametrize("regressor", [
    DecisionTreeRegressor(max_depth=5, random_state=0),
    RandomForestRegressor(n_estimators=20, max_features="sqrt", random_state=0),
    make_pipeline(StandardScaler(), SVR(C=10.0)),
])
def test_study_regressor_parity(cohort: sd.SurvivalData, regressor: object) -> None:
    """Tree thresholds would flip on a last-bit difference: the graph's scaling is exact."""
    train, test = cohort.subset(cohort.splits == "train"), cohort.subset(cohort.splits == "test")
    d = design(train, test, "clinical")
    model = ObservedTimeRegressor(regressor).fit(d.train, train.y["os"])
    graph = export_regressor(model, d.encoder, 0)
    months = onnx_months(graph, model_inputs("clinical", test.records, None))
    np.testing.assert_allclose(months, model.predict_months(d.test), atol=1e-3)


def test_image_columns_and_width_check(cohort: sd.SurvivalData) -> None:
    rng = np.random.default_rng(0)
    d = design(cohort, cohort, "clinical")
    image = rng.normal(size=(len(cohort.records), 3)).astype(np.float32)
    X = np.hstack([d.train, image])
    model = RidgeCox(alpha=1.0).fit(X, cohort.y["rfs"])
    exported = export_cox(model, d.encoder, 3, follow_up_months=50.0)
    feeds = {"clinical": model_inputs("clinical", cohort.records, None)["clinical"],
             "image": image}
    np.testing.assert_allclose(onnx_risk(exported.onnx_bytes, feeds), model.predict(X),
                               atol=1e-5)
    with pytest.raises(ValueError, match=f"expected {len(clinical_plan().columns)} clinical"):
        export_cox(model, d.encoder, 5, follow_up_months=50.0)
