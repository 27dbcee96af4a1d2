"""The classifier service as a real process on loopback: round trip, identity, every bad input,
a tampered bundle, metrics and graceful shutdown."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from cervix.v1 import classifier_pb2, classifier_pb2_grpc, common_pb2
from cervixai.bundle import load_bundle
from cervixai.classification.inputs import input_layout, model_input
from cervixai.classification.training.data import load_cohort
from cervixai.classification.training.export import onnx_probabilities
from cervixai.clinical import ClinicalRecord
from cervixai.clinical.proto import record_to_proto
from cervixai.features import FEATURE_NAMES, ImageFeatureValues
from cervixai.features.cohort import patient_features
from cervixai.features.ranges import OutOfRange
from cervixai.service import channel_options, violations_from_error
from cervixai.training import TrainingResult

PREFIX = "CERVIXAI_CLASSIFIER"
PRE, POST = common_pb2.STAGE_PREOPERATIVE, common_pb2.STAGE_POSTOPERATIVE


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def patient(small_cohort: Path) -> tuple[ClinicalRecord, ImageFeatureValues]:
    data = load_cohort(small_cohort, images=False)
    return data.records[0], patient_features(small_cohort, data.patient_ids[0])


@pytest.fixture(scope="module")
def bundle(image_training: tuple[Path, TrainingResult]) -> Path:
    return image_training[0]


@pytest.fixture
def served(bundle: Path, start_service: Callable[..., Any]) -> Iterator[tuple[Any, Any, int]]:
    metrics_port = _port()
    process = start_service("services.classifier", prefix=PREFIX,
                            env={"CERVIXAI_BUNDLE": str(bundle),
                                 f"{PREFIX}_METRICS_PORT": str(metrics_port)})
    with grpc.insecure_channel(process.address, options=channel_options(64 << 20)) as channel:
        yield process, classifier_pb2_grpc.ClassifierStub(channel), metrics_port


def _request(record: ClinicalRecord, image: ImageFeatureValues | None, stage: int,
             tasks: tuple[int, ...] = ()) -> classifier_pb2.ClassifyRequest:
    request = classifier_pb2.ClassifyRequest(stage=stage, tasks=tasks,
                                             clinical=record_to_proto(record))
    if image is not None:
        request.image_features.CopyFrom(image.to_proto())
    return request


def test_round_trip_matches_the_exported_graphs(
        served: tuple[Any, Any, int], bundle: Path,
        patient: tuple[ClinicalRecord, ImageFeatureValues]) -> None:
    process, stub, metrics_port = served
    record, image = patient
    reply = stub.Predict(_request(record, image, POST), timeout=10)
    loaded = load_bundle(bundle)
    names = {p.task: common_pb2.Task.Name(p.task) for p in reply.predictions}
    assert sorted(names.values()) == sorted(["TASK_PARAMETRIAL_INVASION", "TASK_DEATH",
                                             "TASK_LYMPH_NODE_METASTASIS", "TASK_RECURRENCE"])
    for prediction in reply.predictions:
        task = names[prediction.task].removeprefix("TASK_").lower()
        entry = loaded.entry(f"classifier.{task}")
        layout = input_layout(entry.feature_set, task)
        # the training code path gives the same number as the service
        expected = onnx_probabilities(loaded.verified_bytes(entry.name), model_input(
            layout, [record], [image] if layout.image_width else None))[0]
        assert prediction.probability == pytest.approx(float(expected), abs=1e-6)
        assert prediction.label == (prediction.probability >= prediction.threshold)
        assert prediction.threshold == pytest.approx(entry.threshold)
        assert prediction.target_sensitivity == pytest.approx(0.8)
        assert (prediction.model.name, prediction.model.sha256, prediction.model.algorithm,
                prediction.model.feature_set, prediction.model.version) == (
            entry.name, entry.files["model"].sha256, entry.algorithm, entry.feature_set,
            entry.version)
    pre = stub.Predict(_request(record, image, PRE), timeout=10)
    assert [common_pb2.Task.Name(p.task) for p in pre.predictions] == [
        "TASK_PARAMETRIAL_INVASION", "TASK_LYMPH_NODE_METASTASIS"]
    # clinical-only models need no image features
    only = stub.Predict(_request(record, None, POST, (common_pb2.TASK_RECURRENCE,)), timeout=10)
    assert len(only.predictions) == 1
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    assert b'cervixai_classifier_predictions_total{label=' in text
    assert b'cervixai_model_info{algorithm=' in text
    assert (b'cervixai_model_inference_seconds_count{model="classifier.death",'
            b'service="classifier"}') in text
    assert b'cervixai_grpc_requests_total{code="OK",method="Predict",service="classifier"}' in text
    assert process.stop() == 0


def _wrong_shape(image: ImageFeatureValues) -> common_pb2.ImageFeatures:
    message = image.to_proto()
    del message.lesion_slice.shape[:]
    message.lesion_slice.shape.extend([128, 512])
    return message


def _no_radiomics(image: ImageFeatureValues) -> common_pb2.ImageFeatures:
    message = image.to_proto()
    message.radiomics.clear()
    return message


BAD = [
    ("unknown task", lambda r, i: _request(r, i, POST, (9,)), "tasks[0]", "unknown task 9"),
    ("task not allowed preoperatively",
     lambda r, i: _request(r, i, PRE, (common_pb2.TASK_DEATH,)), "tasks[0]",
     "not available for a preoperative"),
    ("no stage", lambda r, i: _request(r, i, common_pb2.STAGE_UNSPECIFIED), "stage",
     "STAGE_PREOPERATIVE"),
    ("missing clinical field",
     lambda r, i: _request(ClinicalRecord({**r, "age_years": None}), i, PRE), "clinical.age_years",
     "required"),
    ("missing postoperative field",
     lambda r, i: _request(ClinicalRecord({**r, "figo_stage": None}), i, POST),
     "clinical.figo_stage", "required"),
    ("image features missing for an image model",
     lambda r, i: _request(r, None, PRE, (common_pb2.TASK_LYMPH_NODE_METASTASIS,)),
     "image_features", "radiomics"),
    ("lesion slice of the wrong shape",
     lambda r, i: classifier_pb2.ClassifyRequest(
         stage=PRE, clinical=record_to_proto(r), image_features=_wrong_shape(i)),
     "image_features.lesion_slice.shape", "[256, 256]"),
    ("radiomics missing",
     lambda r, i: classifier_pb2.ClassifyRequest(
         stage=PRE, clinical=record_to_proto(r), image_features=_no_radiomics(i)),
     "image_features.radiomics", "missing"),
]


def test_every_bad_input_is_invalid_argument_naming_the_field(
        served: tuple[Any, Any, int],
        patient: tuple[ClinicalRecord, ImageFeatureValues]) -> None:
    _, stub, _ = served
    record, image = patient
    for case, build, field, words in BAD:
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(build(record, image), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, case
        violations = violations_from_error(info.value)
        assert any(v.field == field and words in v.description for v in violations), (
            case, violations)


def test_a_tampered_bundle_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    model = copy / "classifier" / "recurrence.onnx"
    model.write_bytes(model.read_bytes() + b"\0")
    env = {**os.environ, "CERVIXAI_BUNDLE": str(copy), f"{PREFIX}_PORT": str(_port())}
    done = subprocess.run([sys.executable, "-m", "services.classifier"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "sha256" in done.stderr and "refusing to load" in done.stderr
    no_bundle = subprocess.run([sys.executable, "-m", "services.classifier"],
                               env={k: v for k, v in env.items() if k != "CERVIXAI_BUNDLE"},
                               capture_output=True, text=True, timeout=60)
    assert no_bundle.returncode != 0 and "CERVIXAI_BUNDLE is not set" in no_bundle.stderr


def test_a_bundle_trained_on_another_radiomics_vector_is_refused(bundle: Path,
                                                                 tmp_path: Path) -> None:
    """A manifest written before the margin and heterogeneity features were added (27 unnamed
    radiomics columns) must not be fed today's longer vector: loading names the difference."""
    import json

    from cervixai.bundle import BundleError
    from services.classifier.model import ClassifierModel

    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    layout = manifest["models"]["classifier.lymph_node_metastasis"]["parameters"]["input_layout"]
    assert layout["image_features"] == list(FEATURE_NAMES)
    old = {k: v for k, v in layout.items() if k != "image_features"}
    old["image_width"], old["width"] = 27, layout["width"] - len(FEATURE_NAMES) + 27
    manifest["models"]["classifier.lymph_node_metastasis"]["parameters"]["input_layout"] = old
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=f"records 27 image features without names, this "
                                          f"version computes {len(FEATURE_NAMES)}"):
        ClassifierModel(copy).load()
    renamed = dict(layout, image_features=[*FEATURE_NAMES[:-1], "texture_gone"])
    manifest["models"]["classifier.lymph_node_metastasis"]["parameters"]["input_layout"] = renamed
    (copy / "manifest.json").write_text(json.dumps(manifest))
    last = re.escape(FEATURE_NAMES[-1])
    with pytest.raises(BundleError, match=rf"new: {last}\) \(gone: texture_gone\)"):
        ClassifierModel(copy).load()


def served_block(threshold: float) -> dict[str, Any]:
    """A ``metrics.served`` block as training writes it (figures made up, counts consistent)."""
    return {
        "source": "held-out test split of the synthetic cohort (seed 3), 60 patients",
        "cohort": "synthetic-seed-3", "split": "test", "patients": 60, "positives": 18,
        "reliable": True, "threshold": threshold,
        "auc": {"value": 0.81, "ci95": [0.7, 0.9]},
        "sensitivity": {"value": 14 / 18, "ci95": [0.55, 0.91], "count": [14, 18]},
        "specificity": {"value": 30 / 42, "ci95": [0.56, 0.83], "count": [30, 42]},
        "ppv": {"value": 14 / 26, "ci95": [0.35, 0.71], "count": [14, 26]},
        "npv": {"value": 30 / 34, "ci95": [0.73, 0.96], "count": [30, 34]},
        "calibration_in_the_large": {"mean_probability": 0.31, "observed_rate": 0.3,
                                     "difference": 0.01, "standard_error": 0.05},
        "calibration_slope": {"value": 0.9, "ci95": [0.5, 1.3]},
        "oracle_auc": 0.86,
    }


def test_replies_carry_the_served_figures_and_warn_outside_the_training_range(
        bundle: Path, tmp_path: Path, start_service: Callable[..., Any],
        patient: tuple[ClinicalRecord, ImageFeatureValues]) -> None:
    import json

    record, image = patient
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    models = manifest["models"]
    for entry in models.values():  # as an old manifest: none has served figures or ranges
        entry["metrics"].pop("served", None)
        entry["parameters"].pop("image_feature_ranges", None)
    lnm = models["classifier.lymph_node_metastasis"]
    assert lnm["feature_set"] == "radiomics"
    volume = image.radiomics["shape_volume_ml"]
    assert volume > 1
    other = next(n for n in FEATURE_NAMES if n not in ("lesion_found", "shape_volume_ml"))
    low = image.radiomics[other]
    ranges = {name: [value - 1.0, value + 1.0] for name, value in image.radiomics.items()}
    ranges["shape_volume_ml"] = [0.0, volume / 2]   # this patient's lesion is too big
    ranges[other] = [low + 1.0, low + 3.0]          # 0.5 range widths below
    lnm["parameters"]["image_feature_ranges"] = ranges
    lnm["metrics"]["served"] = served_block(lnm["threshold"])
    few = served_block(models["classifier.parametrial_invasion"]["threshold"])
    few.update(positives=4, reliable=False, auc={"value": 0.7, "ci95": None})
    few["sensitivity"] = {"value": 0.75, "ci95": None, "count": [3, 4]}
    models["classifier.parametrial_invasion"]["metrics"]["served"] = few
    # a malformed block is left out of the replies, it does not fail them
    models["classifier.death"]["metrics"]["served"] = {"reliable": "yes"}
    # classifier.recurrence stays without a served block
    (copy / "manifest.json").write_text(json.dumps(manifest))
    metrics_port = _port()
    process = start_service("services.classifier", prefix=PREFIX,
                            env={"CERVIXAI_BUNDLE": str(copy),
                                 f"{PREFIX}_METRICS_PORT": str(metrics_port)})
    with grpc.insecure_channel(process.address, options=channel_options(64 << 20)) as channel:
        stub = classifier_pb2_grpc.ClassifierStub(channel)
        reply = stub.Predict(_request(record, image, POST), timeout=10)
        again = stub.Predict(_request(record, image, PRE), timeout=10)
    by_task = {common_pb2.Task.Name(p.task): p for p in reply.predictions}

    figures = by_task["TASK_LYMPH_NODE_METASTASIS"].operating_characteristics
    assert by_task["TASK_LYMPH_NODE_METASTASIS"].HasField("operating_characteristics")
    assert (figures.patients, figures.positives, figures.reliable, figures.split) == (
        60, 18, True, "test")
    assert figures.source.startswith("held-out test split")
    assert figures.threshold == pytest.approx(by_task["TASK_LYMPH_NODE_METASTASIS"].threshold)
    assert (figures.sensitivity.numerator, figures.sensitivity.denominator) == (14, 18)
    assert figures.sensitivity.value == pytest.approx(14 / 18)
    assert (figures.specificity.numerator, figures.specificity.denominator) == (30, 42)
    assert (figures.ppv.numerator, figures.ppv.denominator) == (14, 26)
    assert (figures.npv.numerator, figures.npv.denominator) == (30, 34)
    assert (figures.auc.value, figures.auc.ci95.low, figures.auc.ci95.high) == (0.81, 0.7, 0.9)
    assert figures.oracle_auc == 0.86
    unreliable = by_task["TASK_PARAMETRIAL_INVASION"].operating_characteristics
    assert (unreliable.reliable, unreliable.positives) == (False, 4)
    assert not unreliable.sensitivity.HasField("ci95") and not unreliable.auc.HasField("ci95")
    assert not by_task["TASK_RECURRENCE"].HasField("operating_characteristics")
    assert not by_task["TASK_DEATH"].HasField("operating_characteristics")

    outside = [w for w in reply.warnings if "outside the training range" in w]
    assert outside == [  # the farthest outside (in range widths) first
        "lymph_node_metastasis: image features outside the training range: "
        f"{OutOfRange('shape_volume_ml', volume, 0.0, volume / 2).describe()}, "
        f"{OutOfRange(other, low, low + 1.0, low + 3.0).describe()}"
        " — the model is extrapolating for this patient"]
    assert outside[0] in again.warnings                  # preoperative asks the same model
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                  timeout=5).read().decode()
    for feature in ("shape_volume_ml", other):
        assert (f'cervixai_image_features_out_of_range_total{{feature="{feature}",'
                f'model="classifier.lymph_node_metastasis",service="classifier"}} 2.0') in text
    assert text.count("cervixai_image_features_out_of_range_total{") == 2
    assert process.stop() == 0
