"""A small training run end to end: report, choice, bundle entries, CLI errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cervixai.bundle import load_bundle
from cervixai.survival.cli import main
from cervixai.survival.training.run import TrainOptions, train


def test_quick_bundle_entries(clinical_bundle: Path, clinical_cohort: Path) -> None:
    bundle = load_bundle(clinical_bundle)
    for outcome in ("rfs", "os"):
        entry = bundle.entry(f"survival.{outcome}")
        assert (entry.algorithm, entry.feature_set) == ("ridge_cox", "clinical")
        assert set(entry.files) == {"model", "baseline", "regression"}
        bundle.verified_path(f"survival.{outcome}", "baseline")
        regression = entry.parameters["regression_model"]
        assert regression["algorithm"] == "regression_tree"
        assert regression["parity_max_abs_months"] < 1e-3
        assert entry.metrics["parity_max_abs_risk"] < 1e-4
        # an interval only where 10 events back it; below that the value and its counts
        if entry.metrics["events_evaluated"] >= 10:
            assert entry.metrics["reliable"] is True
            assert entry.metrics["harrell_c_ci"][0] <= entry.metrics["harrell_c"]
        else:
            assert entry.metrics["reliable"] is False
            assert entry.metrics["harrell_c_ci"] == [None, None]
        assert entry.training_data["patients"] == 400
        assert entry.inputs[0]["name"] == "clinical" and len(entry.inputs) == 1
        assert not list(clinical_bundle.rglob("*.pkl"))
    text = (clinical_bundle / "reports" / "survival.md").read_text()
    assert "Oracle (true risk)" in text and "Chosen models" in text


def test_full_protocol_report(tmp_path: Path, clinical_cohort: Path) -> None:
    result = train(TrainOptions(cohort=clinical_cohort, out=tmp_path / "b", bootstrap=5,
                                 cache_dir=tmp_path / "cache", folds=3, n_estimators=20))
    text = (tmp_path / "b" / "reports" / "survival.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    models = {(r["outcome"], r["model"]) for r in rows}
    for outcome in ("rfs", "os"):
        for model in ("weighted_knn", "svr", "random_forest", "regression_tree", "ridge_cox",
                      "random_survival_forest"):
            assert (outcome, model) in models
    by = {(r["outcome"], r["model"]): r for r in rows}
    # Paper models have MAE and C but no survival curve; censoring-aware models have IBS.
    assert by[("rfs", "svr")]["ibs"] == "" and float(by[("rfs", "svr")]["mae_all"]) > 0
    assert 0 < float(by[("rfs", "ridge_cox")]["ibs"]) < 0.25
    assert float(by[("rfs", "ridge_cox")]["cv_score"]) > 0.5
    # The exported model is the best exportable one by CV C.
    assert result.entry("survival.rfs").algorithm == "ridge_cox"
    assert result.names == ("survival.rfs", "survival.os")
    assert result.entries == tuple(load_bundle(tmp_path / "b").models[n] for n in result.names)
    assert result.reports == (tmp_path / "b" / "reports" / "survival.md",
                              tmp_path / "b" / "reports" / "survival.csv")
    markdown = (tmp_path / "b" / "reports" / "survival.md").read_text()
    assert "| Weighted KNN | paper |" in markdown and "calib. 12 mo" in markdown


def test_radiomics_bundle_has_an_image_input(radiomics_bundle: Path) -> None:
    entry = load_bundle(radiomics_bundle).entry("survival.rfs")
    assert entry.feature_set == "radiomics"
    assert [i["name"] for i in entry.inputs] == ["clinical", "image"]


@pytest.mark.parametrize(("args", "message", "status"), [
    (["--cohort", "/nonexistent"], "is not a cohort", 2),
    (["--bootstrap", "-1"], "--bootstrap must be", 2),
    (["--feature-sets", "radiomics"], "has no images/ and masks/", 1),
])
def test_cli_refuses_bad_arguments(tmp_path: Path, clinical_cohort: Path, args: list[str],
                                   message: str, status: int,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    base = ["survival", "--out", str(tmp_path / "b")]
    if "--cohort" not in args:
        base += ["--cohort", str(clinical_cohort)]
    assert main([*base, *args]) == status
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_cli_quick_run(tmp_path: Path, clinical_cohort: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survival", "--cohort", str(clinical_cohort), "--out", str(tmp_path / "b"),
                 "--quick", "--bootstrap", "0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["models"]) == {"rfs", "os"}
    assert summary["models"]["rfs"]["algorithm"] == "ridge_cox"
    assert [e["name"] for e in summary["entries"]] == ["survival.rfs", "survival.os"]
    assert summary["reports"][0].endswith("survival.md")
    assert (tmp_path / "b" / "survival" / "rfs.onnx").is_file()
