"""End-to-end training: report, bundle entries, ONNX parity, tiny cohorts and the command."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from cervixai.bundle import load_bundle
from cervixai.classification.cli import main
from cervixai.classification.inputs import input_layout
from cervixai.classification.training.data import load_cohort
from cervixai.classification.training.export import onnx_probabilities
from cervixai.cohort.format import TASKS
from cervixai.cohort.oracle import oracle_figures
from cervixai.cohort.synth import synthesize
from cervixai.evaluation import roc_auc
from cervixai.training import TrainingResult


def test_every_task_gets_a_parity_checked_model(
        clinical_training: tuple[Path, TrainingResult]) -> None:
    bundle, result = clinical_training
    assert result.bundle == bundle and not result.skipped
    assert result.names == tuple(f"classifier.{task}" for task in TASKS)
    assert result.reports == (bundle / "reports" / "classifier.md",
                              bundle / "reports" / "classifier.csv")
    loaded = load_bundle(bundle)
    for task in TASKS:
        entry = loaded.entry(f"classifier.{task}")
        # the result's entries are the manifest's, as written
        assert entry == result.entry(f"classifier.{task}")
        assert entry.feature_set == "clinical"
        assert entry.metrics["onnx_parity_max_abs_diff"] <= 1e-5
        assert 0.0 < entry.threshold < 1.0  # type: ignore[operator]
        assert entry.parameters["target_sensitivity"] == 0.8
        assert entry.parameters["stage"] == ("preoperative" if task in TASKS[:2]
                                             else "postoperative")
        auc, positives = entry.metrics["auc"], entry.metrics["positives_test"]
        # an interval only where 10 positives and 10 negatives back it; else counts, no CI
        assert auc["reliable"] is (positives >= 10 and entry.metrics["negatives"] >= 10)
        if auc["reliable"]:
            assert auc["ci95"][0] <= auc["value"] <= auc["ci95"][1]
        else:
            assert auc["ci95"] is None and entry.metrics["reliable"] is False
        sensitivity = entry.metrics["sensitivity"]
        assert sensitivity["count"][1] == positives
        assert sensitivity["value"] == pytest.approx(sensitivity["count"][0] / positives)
        assert entry.training_data["patients"] == 200


def test_calibrated_probabilities_track_the_event_rate(
        clinical_training: tuple[Path, TrainingResult], clinical_cohort: Path) -> None:
    bundle, _ = clinical_training
    data = load_cohort(clinical_cohort)
    loaded = load_bundle(bundle)
    for task in ("lymph_node_metastasis", "recurrence"):
        p = onnx_probabilities(loaded.verified_bytes(f"classifier.{task}"),
                               data.features(input_layout("clinical", task)))
        # downsampling 1:1 alone would centre the probabilities near 0.5
        assert abs(float(p.mean()) - float(data.labels[task].mean())) < 0.1


def test_report_has_both_tables_and_every_row(
        clinical_training: tuple[Path, TrainingResult]) -> None:
    bundle, _ = clinical_training
    text = (bundle / "reports" / "classifier.md").read_text()
    assert "Table 2 — preoperative tasks" in text and "Table 3 — postoperative tasks" in text
    assert "oracle AUC" in text and "highest mean stratified-CV AUC" in text
    rows = list(csv.DictReader(io.StringIO((bundle / "reports" / "classifier.csv").read_text())))
    assert len(rows) == len(TASKS) * 2
    assert sum(int(r["chosen"]) for r in rows) == len(TASKS)
    for row in rows:
        assert float(row["auc_ci_low"]) <= float(row["auc"]) <= float(row["auc_ci_high"])
        assert 0.5 < float(row["oracle_auc"]) <= 1.0


def test_tiny_imaged_cohort_trains_what_it_can(
        image_training: tuple[Path, TrainingResult]) -> None:
    bundle, result = image_training
    # the 24-patient cohort has no parametrial invasion at all: a clear message, not a crash
    assert "parametrial_invasion: the training split has 0 positive" in \
        result.skipped["parametrial_invasion"]
    assert result.names == ("classifier.lymph_node_metastasis",)
    entry = load_bundle(bundle).entry("classifier.lymph_node_metastasis")
    assert entry.feature_set == "radiomics"
    # contoured by a segmenter of other patients, the one the bundle serves
    assert entry.parameters["image_features_from"] == "segmenter"
    assert entry.parameters["segmenter_version"] == \
        load_bundle(bundle).entry("segmenter").files["model"].sha256
    assert entry.metrics["onnx_parity_max_abs_diff"] <= 1e-5
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["models"]["classifier.parametrial_invasion"]["feature_set"] == "clinical"


def test_command_line(clinical_cohort: Path, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bundle"
    rc = main(["classifier", "--cohort", str(clinical_cohort), "--out", str(out), "--quick",
               "--tasks", "recurrence", "--algorithms", "logistic_regression",
               "--feature-sets", "clinical", "--bootstrap", "20", "--downsample"])
    assert rc == 0
    assert "classifier.recurrence: logistic_regression on clinical" in capsys.readouterr().out
    report = (out / "reports" / "classifier.md").read_text()
    assert "cervixai train classifier --cohort" in report
    assert "negatives downsampled 1:1 for training: on" in report
    entry = load_bundle(out).entry("classifier.recurrence")
    assert entry.parameters["downsample_negatives_1_to_1"] is True
    assert main(["classifier", "--cohort", str(tmp_path), "--out", str(out)]) == 2
    with pytest.raises(SystemExit):
        main(["classifier", "--cohort", str(clinical_cohort), "--out", str(out),
              "--algorithms", "xgboost"])
    assert np.isfinite(load_bundle(out).entry("classifier.recurrence").metrics["cv_auc"])


def test_evaluation_cohort_scores_the_exported_models_beside_both_oracles(
        clinical_cohort: Path, tmp_path: Path) -> None:
    evaluation = tmp_path / "evaluation"
    synthesize(evaluation, 400, seed=7, images=False)
    out = tmp_path / "bundle"
    assert main(["classifier", "--cohort", str(clinical_cohort), "--out", str(out), "--quick",
                 "--tasks", "parametrial_invasion,recurrence", "--algorithms",
                 "logistic_regression", "--feature-sets", "clinical", "--bootstrap", "20",
                 "--no-downsample", "--eval-cohort", str(evaluation)]) == 0
    report = (out / "reports" / "classifier.md").read_text()
    assert "negatives downsampled 1:1 for training: off" in report
    rows = {line.split(" | ")[0].strip("| "): line.rstrip(" |").split(" | ")
            for line in report.splitlines() if line.startswith("| ") and " | 400 | " in line}
    assert set(rows) == {"parametrial_invasion", "recurrence"}
    # every figure is what an independent path computes: the bundle's graph in onnxruntime on
    # the evaluation cohort, and `cervixai cohort oracle`'s figures
    data, loaded, truth = load_cohort(evaluation), load_bundle(out), oracle_figures(evaluation)
    for task, cells in rows.items():
        p = onnx_probabilities(loaded.verified_bytes(f"classifier.{task}"),
                               data.features(input_layout("clinical", task)))
        auc, oracle = roc_auc(data.labels[task], p), truth[task]["oracle_auc"]
        assert [float(c) for c in cells[4:7]] == pytest.approx([auc, oracle, oracle - auc],
                                                               abs=1e-3)
    preoperative = truth["parametrial_invasion"]["preoperative_oracle_auc"]
    assert float(rows["parametrial_invasion"][7]) == pytest.approx(preoperative, abs=5e-4)
    # the preoperative oracle is the reference for the preoperative tasks only
    assert rows["recurrence"][7:9] == ["—", "—"]
