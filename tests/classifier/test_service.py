"""The classifier service as a real process on loopback: round trip, identity, every bad input,
a tampered bundle, metrics and graceful shutdown."""

from __future__ import annotations

import os
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
from cervixai.classification.training.dataset import load_cohort, patient_image_features
from cervixai.classification.training.export_onnx import onnx_probabilities
from cervixai.classification.training.train_classifier import TrainSummary
from cervixai.clinical import ClinicalRecord
from cervixai.clinical.proto import record_to_proto
from cervixai.features import FEATURE_NAMES, ImageFeatureValues
from cervixai.service import channel_options, violations_from_error

PREFIX = "CERVIXAI_CLASSIFIER"
PRE, POST = common_pb2.STAGE_PREOPERATIVE, common_pb2.STAGE_POSTOPERATIVE


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def patient(small_cohort: Path) -> tuple[ClinicalRecord, ImageFeatureValues]:
    data = load_cohort(small_cohort, images=False)
    return data.records[0], patient_image_features((small_cohort, data.patient_ids[0]))


@pytest.fixture(scope="module")
def bundle(image_training: tuple[Path, TrainSummary]) -> Path:
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
    assert b'cervixai_classifier_model_info{algorithm=' in text
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
    with pytest.raises(BundleError, match=r"new: heterogeneity_lag1_cv\) \(gone: texture_gone\)"):
        ClassifierModel(copy).load()
