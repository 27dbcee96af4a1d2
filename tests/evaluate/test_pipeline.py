"""The evaluation pipeline on a real cohort folder with a stand-in gateway: patients read and
sent, replies parsed (masks decoded), ground truth ingested, figures built, reports written,
metrics recorded in a bundle — everything but the model services (tests/e2e/test_evaluate.py runs
those)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict

from cervix.v1 import common_pb2, gateway_pb2, survival_pb2
from cervixai.bundle import FileRef, ModelEntry, load_bundle, write_entry
from cervixai.dicom import DicomSource
from cervixai.evaluate import record_served
from cervixai.evaluate.clients import AssessmentFailed, HttpAssessor
from cervixai.evaluate.cohort import Patient, load_patients, read_oracle, truth_mask
from cervixai.evaluate.reply import MalformedReply, parse_reply
from cervixai.evaluate.result import Evaluation, Settings, build
from cervixai.evaluate.serving import assess_patients
from cervixai.masks import encode_mask

TASKS = {"parametrial_invasion": common_pb2.TASK_PARAMETRIAL_INVASION,
         "lymph_node_metastasis": common_pb2.TASK_LYMPH_NODE_METASTASIS,
         "recurrence": common_pb2.TASK_RECURRENCE, "death": common_pb2.TASK_DEATH}
VERSIONS = {name: f"{i:012x}" for i, name in enumerate(
    ["segmenter", *(f"classifier.{t}" for t in TASKS), "survival.rfs", "survival.os"])}


def reply_json(mask: np.ndarray, matrix: tuple[int, int], oracle: Mapping[str, float],
               threshold: float = 0.5) -> dict[str, Any]:
    """An AssessResponse as the HTTP API returns it, serving the oracle's probabilities."""
    response = gateway_pb2.AssessResponse(request_id="r", stage=common_pb2.STAGE_POSTOPERATIVE)
    response.series.original_rows, response.series.original_columns = matrix
    response.segmentation.mask.CopyFrom(encode_mask(mask))
    for name, task in TASKS.items():
        p = response.predictions.add(task=task, probability=oracle[name], threshold=threshold,
                                     label=oracle[name] >= threshold)
        p.model.name, p.model.version = f"classifier.{name}", VERSIONS[f"classifier.{name}"]
    for name, outcome in (("rfs", survival_pb2.SURVIVAL_OUTCOME_RFS),
                          ("os", survival_pb2.SURVIVAL_OUTCOME_OS)):
        risk = oracle[f"{name}_risk"]
        estimate = response.survival.add(outcome=outcome, risk_score=risk)
        estimate.curve.add(months=0.0, probability=1.0)
        for months in range(6, 61, 6):
            estimate.curve.add(months=months, probability=float(np.exp(-months / 60 * np.exp(
                risk if name == "rfs" else 3 * risk - 1))))
        estimate.model.name, estimate.model.version = f"survival.{name}", VERSIONS[
            f"survival.{name}"]
    response.models.add(name="segmenter", version=VERSIONS["segmenter"])
    response.models.extend([p.model for p in response.predictions])
    response.models.extend([e.model for e in response.survival])
    return MessageToDict(response, preserving_proto_field_name=True,
                         always_print_fields_with_no_presence=True)


class OracleGateway:
    """Answers in order (concurrency 1) with each patient's true mask and oracle values; refuses
    the patients whose index is in ``refuse``."""

    api = "http"

    def __init__(self, patients: Sequence[Patient], oracle: Mapping[str, Mapping[str, float]],
                 refuse: Sequence[int] = ()) -> None:
        self.queue = list(patients)
        self.oracle = oracle
        self.refuse = set(refuse)
        self.records: list[Mapping[str, float | str]] = []

    def assess(self, record: Mapping[str, float | str],
               files: Sequence[DicomSource]) -> dict[str, Any]:
        patient = self.queue.pop(0)
        self.records.append(record)
        assert files and all(f.data for f in files)
        if patient.index in self.refuse:
            raise AssessmentFailed("HTTP 503 UNAVAILABLE: backend segmenter unavailable",
                                   status=503, code="UNAVAILABLE")
        mask, matrix = truth_mask(patient)
        return reply_json(mask, matrix, self.oracle[patient.patient_id])

    def close(self) -> None:
        pass


def _settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {"cohort": "small", "cohort_path": "/c", "split": "all",
                              "api": "http", "target": "gateway test", "bootstrap_rounds": 50,
                              "seed": 0, "concurrency": 1, "timeout_seconds": 5.0}
    return Settings(**{**values, **changes})


@pytest.fixture(scope="module")
def served(small_cohort: Path) -> tuple[Evaluation, OracleGateway]:
    patients = load_patients(small_cohort, "all")
    oracle = read_oracle(small_cohort)
    assert oracle is not None
    gateway = OracleGateway(patients, oracle, refuse=[3])
    results = assess_patients(patients, gateway, concurrency=1)
    return build(results, _settings(), oracle=oracle), gateway


def test_every_patient_is_sent_as_a_postoperative_record(
        served: tuple[Evaluation, OracleGateway], small_cohort: Path) -> None:
    evaluation, gateway = served
    assert evaluation.patients == 24 and len(gateway.records) == 24
    assert "figo_stage" in gateway.records[0] and "recurrence" not in gateway.records[0]


def test_a_failed_patient_is_counted_and_listed_by_index(
        served: tuple[Evaluation, OracleGateway]) -> None:
    data = served[0].to_json()
    assert data["patients"] == {"sent": 24, "served": 23, "failed": 1, "without_dice": 0}
    assert data["failures"] == [{"index": 3, "patient_id": "SYN-0003", "stage": "request",
                                 "reason": "HTTP 503 UNAVAILABLE: backend segmenter unavailable",
                                 "status": 503, "code": "UNAVAILABLE", "fields": []}]
    assert "## Failed patients" in served[0].markdown()


def test_serving_the_truth_scores_the_oracle(served: tuple[Evaluation, OracleGateway]) -> None:
    evaluation = served[0]
    for task, s in evaluation.tasks.items():
        assert s["patients"] == 23
        if s["auc"]["value"] is not None:
            assert s["auc"]["value"] == pytest.approx(s["oracle_auc"]), task
    rfs = evaluation.survival["rfs"]
    assert rfs["c_index"]["value"] == pytest.approx(rfs["oracle_c_index"])
    assert rfs["integrated_brier_score"]["value"] is not None
    seg = evaluation.segmentation
    assert seg["patients"] == 23 and seg["dice_mean"]["value"] == 1.0 and seg["below_0_05"] == 0


def test_subgroups_partition_the_served_patients(
        served: tuple[Evaluation, OracleGateway]) -> None:
    subgroups = served[0].subgroups
    for kind in ("figo_stage_group", "age_band", "matrix"):
        assert sum(g["patients"] for g in subgroups[kind].values()) == 23, kind
    assert set(subgroups["matrix"]) <= {"256", "320"}
    assert set(subgroups["figo_stage_group"]) <= {"I", "II"}
    for group in subgroups["age_band"].values():
        for s in group["classification"].values():
            assert s["reliable"] is False and s["auc"]["ci95"] is None   # 24 patients: small


def test_reports_are_written(served: tuple[Evaluation, OracleGateway], tmp_path: Path) -> None:
    written = served[0].write(tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["evaluation.json", "evaluation.md", "reliability-death.png",
                     "reliability-lymph_node_metastasis.png",
                     "reliability-parametrial_invasion.png", "reliability-recurrence.png"]
    data = json.loads((tmp_path / "evaluation.json").read_text())
    assert data["source"].startswith("cervixai evaluate through the gateway (HTTP API) on 23 ")
    assert (tmp_path / "reliability-recurrence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (tmp_path / "evaluation.md").read_text()
    for heading in ("## Classification", "### Calibration", "## Survival", "## Segmentation",
                    "### FIGO stage group", "### Age band", "### In-plane matrix"):
        assert heading in text


def _bundle(root: Path) -> Path:
    for name, version in VERSIONS.items():
        write_entry(root, ModelEntry(name=name, task=name, algorithm="a", feature_set="f",
                                     files={"model": FileRef(f"{name}.onnx", version + "0" * 52)},
                                     metrics={"test": {"auc": 0.7}}))
    return root


def test_record_served_refuses_a_partial_evaluation(
        served: tuple[Evaluation, OracleGateway], tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "bundle")
    with pytest.raises(Exception, match="1 of 24 patients were not served"):
        record_served(bundle, served[0])
    assert "served" not in load_bundle(bundle).models["segmenter"].metrics


def test_record_served_writes_the_contract_into_each_entry(
        served: tuple[Evaluation, OracleGateway], tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "bundle")
    complete = dataclasses.replace(served[0], failures=[])
    record_served(bundle, complete)
    models = load_bundle(bundle).models
    recurrence = models["classifier.recurrence"].metrics
    assert recurrence["test"] == {"auc": 0.7}                      # other metrics untouched
    assert set(recurrence["served"]) == {
        "source", "cohort", "split", "patients", "positives", "reliable", "threshold", "auc",
        "sensitivity", "specificity", "ppv", "npv", "calibration_in_the_large",
        "calibration_slope", "oracle_auc"}
    assert set(recurrence["served"]["sensitivity"]) == {"value", "ci95", "count"}
    assert set(recurrence["served"]["auc"]) == {"value", "ci95"}
    assert set(recurrence["served"]["calibration_in_the_large"]) == {
        "mean_probability", "observed_rate", "difference", "standard_error"}
    assert recurrence["served"]["patients"] == 23 and recurrence["served"]["split"] == "all"
    assert set(models["survival.os"].metrics["served"]) == {
        "source", "cohort", "split", "patients", "events", "reliable", "c_index",
        "integrated_brier_score", "oracle_c_index"}
    assert set(models["segmenter"].metrics["served"]) == {
        "source", "cohort", "split", "patients", "dice_mean", "dice_median", "below_0_05"}


def test_record_served_refuses_another_bundles_models(
        served: tuple[Evaluation, OracleGateway], tmp_path: Path) -> None:
    bundle = tmp_path / "other"
    write_entry(bundle, ModelEntry(name="classifier.death", task="death", algorithm="a",
                                   feature_set="f", files={"model": FileRef("d.onnx", "f" * 64)}))
    with pytest.raises(Exception, match="is not the bundle's"):
        record_served(bundle, dataclasses.replace(served[0], failures=[]))
    assert "served" not in load_bundle(bundle).models["classifier.death"].metrics


def test_parse_reply_decodes_the_bitpacked_mask() -> None:
    mask = np.zeros((3, 4, 5), bool)
    mask[1, 2, 1:4] = True
    oracle = {**dict.fromkeys(TASKS, 0.3), "rfs_risk": 0.1, "os_risk": 0.2}
    served = parse_reply(reply_json(mask, (320, 320), oracle))
    assert np.array_equal(served.mask, mask) and served.matrix == (320, 320)
    assert served.predictions["death"].probability == 0.3
    assert served.survival["rfs"].curve[0] == (0.0, 1.0)
    with pytest.raises(MalformedReply, match="series"):
        parse_reply({"predictions": [], "segmentation": {}})


def test_http_failures_name_fields_but_never_quote_values() -> None:
    body = {"error": {"code": "INVALID_ARGUMENT", "message": "clinical.age_years: 400 years ...",
                      "field_violations": [{"field": "clinical.age_years",
                                            "description": "400 years is outside 15–100"}]}}
    assessor = HttpAssessor("http://gateway.test")
    assessor._client = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(400, json=body)))
    with pytest.raises(AssessmentFailed) as failed:
        assessor.assess({"age_years": 400.0}, [DicomSource("a.dcm", b"x")])
    assert failed.value.reason == "HTTP 400 INVALID_ARGUMENT: invalid clinical.age_years"
    assert "400" not in failed.value.reason.removeprefix("HTTP 400") and failed.value.fields == [
        "clinical.age_years"]


def test_http_request_is_the_hospitals_multipart_post() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["path"], seen["body"] = request.url.path, request.content
        return httpx.Response(200, json={"ok": True})

    assessor = HttpAssessor("http://gateway.test/")
    assessor._client = httpx.Client(transport=httpx.MockTransport(handler))
    assert assessor.assess({"age_years": 41.0}, [DicomSource("a.dcm", b"DICM")]) == {"ok": True}
    assert seen["path"] == "/v1/assessments"
    assert b'name="stage"\r\n\r\npostoperative' in seen["body"]
    assert b'{"age_years": 41.0}' in seen["body"] and b'filename="a.dcm"' in seen["body"]


def test_failure_logs_name_the_index_only(small_cohort: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    patients = load_patients(small_cohort, "all", limit=2)

    class Refusing:
        api = "http"

        def assess(self, record: Mapping[str, float | str],
                   files: Sequence[DicomSource]) -> dict[str, Any]:
            raise AssessmentFailed("HTTP 400 INVALID_ARGUMENT: invalid clinical.age_years")

        def close(self) -> None:
            pass

    with caplog.at_level(logging.INFO, logger="cervixai.evaluate"):
        results = assess_patients(patients, Refusing(), concurrency=2)
    assert [r.failure.index for r in results if r.failure] == [1, 2]
    text = caplog.text
    assert "patient #1 of 2" in text and "patient #2 of 2" in text
    assert "SYN-" not in text
    for value in patients[0].row.values():
        if len(value) > 3:
            assert value not in text
