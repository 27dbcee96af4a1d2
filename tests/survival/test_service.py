"""The survival service as a real process on loopback: round trip, bad input, bad bundles."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from cervix.v1 import clinical_pb2, survival_pb2, survival_pb2_grpc
from cervixai.bundle import load_bundle
from cervixai.clinical.proto import record_to_proto
from cervixai.features.ranges import OutOfRange
from cervixai.service import violations_from_error
from cervixai.survival.curves import BaselineSurvival
from cervixai.survival.inputs import model_inputs
from cervixai.survival.training import data as sd
from cervixai.survival.training.export import onnx_months, onnx_risk

PREFIX = "CERVIXAI_SURVIVAL"


@pytest.fixture(scope="module")
def patient(clinical_cohort: Path) -> Any:
    cohort = sd.load(clinical_cohort, images=False)
    return cohort.records[int(np.argmax([r["tumor_size_cm"] or 0 for r in cohort.records]))]


def _stub(address: str) -> survival_pb2_grpc.SurvivalStub:
    return survival_pb2_grpc.SurvivalStub(grpc.insecure_channel(address))


def test_round_trip(start_service: Callable[..., Any], clinical_bundle: Path, patient: Any
                    ) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = int(s.getsockname()[1])
    service = start_service("services.survival", prefix=PREFIX,
                            env={"CERVIXAI_BUNDLE": str(clinical_bundle),
                                 f"{PREFIX}_METRICS_PORT": str(metrics_port)})
    reply = _stub(service.address).Predict(
        survival_pb2.SurvivalRequest(clinical=record_to_proto(patient)), timeout=10)
    assert [e.outcome for e in reply.estimates] == [survival_pb2.SURVIVAL_OUTCOME_RFS,
                                                    survival_pb2.SURVIVAL_OUTCOME_OS]
    bundle = load_bundle(clinical_bundle)
    for estimate, outcome in zip(reply.estimates, ("rfs", "os"), strict=True):
        # Same number as the exported graph and baseline table computed offline.
        risk = onnx_risk(bundle.verified_bytes(f"survival.{outcome}"),
                         model_inputs("clinical", [patient], None))[0]
        assert estimate.risk_score == pytest.approx(float(risk), abs=1e-6)
        baseline = BaselineSurvival.from_json(bundle.verified_bytes(f"survival.{outcome}",
                                                                    "baseline"))
        expected = baseline.at([risk], [12.0, 36.0, 60.0])[0]
        got = [estimate.survival_probability_12_months, estimate.survival_probability_36_months,
               estimate.survival_probability_60_months]
        np.testing.assert_allclose(got, expected, atol=1e-6)
        curve = [(p.months, p.probability) for p in estimate.curve]
        assert curve[0] == (0.0, 1.0)
        assert all(b[0] > a[0] and b[1] <= a[1] for a, b in itertools.pairwise(curve))
        assert estimate.follow_up_months == pytest.approx(baseline.follow_up_months)
        assert estimate.median_reached == estimate.HasField("median_months")
        if estimate.median_reached:
            assert min(p for _, p in curve) <= 0.5
        else:
            assert min(p for _, p in curve) > 0.5
        months = onnx_months(bundle.verified_bytes(f"survival.{outcome}", "regression"),
                             model_inputs("clinical", [patient], None))[0]
        assert estimate.HasField("regression_months")
        assert estimate.regression_months == pytest.approx(float(months), abs=1e-4)
        assert estimate.model.name == f"survival.{outcome}"
        assert estimate.model.sha256 == bundle.entry(f"survival.{outcome}").files["model"].sha256
        assert (estimate.model.algorithm, estimate.model.feature_set) == ("ridge_cox", "clinical")
    assert any("60 months" in w for w in reply.warnings)
    only_os = _stub(service.address).Predict(survival_pb2.SurvivalRequest(
        outcomes=[survival_pb2.SURVIVAL_OUTCOME_OS], clinical=record_to_proto(patient)),
        timeout=10)
    assert [e.outcome for e in only_os.estimates] == [survival_pb2.SURVIVAL_OUTCOME_OS]
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    assert b'cervixai_survival_estimates_total{median_reached=' in text
    assert b'cervixai_grpc_requests_total{code="OK",method="Predict",service="survival"} 2.0' \
        in text
    assert service.stop() == 0                      # SIGTERM: graceful, exit 0


def _bad_requests(patient: Any) -> list[tuple[survival_pb2.SurvivalRequest, str]]:
    missing = record_to_proto({k: v for k, v in patient.items() if k != "lvsi"})
    out_of_range = record_to_proto(patient)
    out_of_range.age_years = 300
    return [
        (survival_pb2.SurvivalRequest(clinical=missing), "clinical.lvsi"),
        (survival_pb2.SurvivalRequest(clinical=out_of_range), "clinical.age_years"),
        (survival_pb2.SurvivalRequest(outcomes=[7], clinical=record_to_proto(patient)),
         "outcomes[0]"),
        (survival_pb2.SurvivalRequest(clinical=clinical_pb2.ClinicalRecord()),
         "clinical.figo_stage"),
    ]


def test_bad_input_is_invalid_argument(start_service: Callable[..., Any],
                                       clinical_bundle: Path, radiomics_bundle: Path,
                                       patient: Any) -> None:
    service = start_service("services.survival", prefix=PREFIX,
                            env={"CERVIXAI_BUNDLE": str(clinical_bundle)})
    stub = _stub(service.address)
    for request, field in _bad_requests(patient):
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in [v.field for v in violations_from_error(info.value)]
    # A radiomics model needs the image features, and they must be complete.
    image = start_service("services.survival", prefix=PREFIX,
                          env={"CERVIXAI_BUNDLE": str(radiomics_bundle)})
    stub = _stub(image.address)
    for request, field in [
        (survival_pb2.SurvivalRequest(clinical=record_to_proto(patient)), "image_features"),
        (survival_pb2.SurvivalRequest(clinical=record_to_proto(patient),
                                      image_features={"lesion_found": True}),
         "image_features.lesion_slice.shape"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in [v.field for v in violations_from_error(info.value)]


def test_image_model_round_trip(start_service: Callable[..., Any], radiomics_bundle: Path,
                                small_cohort: Path) -> None:
    cohort = sd.load(small_cohort, images=True, cache_dir=radiomics_bundle.parent / "cache",
                     segmenter_bundle=radiomics_bundle)
    assert cohort.features is not None
    service = start_service("services.survival", prefix=PREFIX,
                            env={"CERVIXAI_BUNDLE": str(radiomics_bundle)})
    reply = _stub(service.address).Predict(survival_pb2.SurvivalRequest(
        clinical=record_to_proto(cohort.records[0]),
        image_features=cohort.features[0].to_proto()), timeout=10)
    risk = onnx_risk(load_bundle(radiomics_bundle).verified_bytes("survival.rfs"),
                     model_inputs("radiomics", cohort.records[:1], cohort.features[:1]))[0]
    assert reply.estimates[0].risk_score == pytest.approx(float(risk), abs=1e-6)
    assert reply.estimates[0].model.feature_set == "radiomics"



def test_replies_carry_the_served_figures_and_warn_outside_the_training_range(
        start_service: Callable[..., Any], radiomics_bundle: Path, small_cohort: Path,
        tmp_path: Path) -> None:
    import json

    cohort = sd.load(small_cohort, images=True, cache_dir=radiomics_bundle.parent / "cache",
                     segmenter_bundle=radiomics_bundle)
    assert cohort.features is not None
    image = cohort.features[0]
    copy = tmp_path / "bundle"
    shutil.copytree(radiomics_bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    rfs = manifest["models"]["survival.rfs"]
    # survival.os as an old manifest entry: no served block, no ranges
    manifest["models"]["survival.os"]["metrics"].pop("served", None)
    manifest["models"]["survival.os"]["parameters"].pop("image_feature_ranges", None)
    assert rfs["feature_set"] == "radiomics"
    volume = image.radiomics["shape_volume_ml"]
    rfs["parameters"]["image_feature_ranges"] = {
        "shape_volume_ml": [volume * 2, volume * 3],
        "feature_of_another_version": [0.0, 1.0]}   # a range the request has no value for
    rfs["metrics"]["served"] = {
        "source": "held-out test split of the synthetic cohort (seed 0), 24 patients",
        "cohort": "synthetic-seed-0", "split": "test", "patients": 24, "events": 7,
        "reliable": False, "c_index": {"value": 0.68, "ci95": None},
        "integrated_brier_score": {"value": 0.17, "ci95": None}, "oracle_c_index": 0.74}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = int(s.getsockname()[1])
    service = start_service("services.survival", prefix=PREFIX,
                            env={"CERVIXAI_BUNDLE": str(copy),
                                 f"{PREFIX}_METRICS_PORT": str(metrics_port)})
    reply = _stub(service.address).Predict(survival_pb2.SurvivalRequest(
        clinical=record_to_proto(cohort.records[0]), image_features=image.to_proto()),
        timeout=10)
    estimates = {e.outcome: e for e in reply.estimates}
    figures = estimates[survival_pb2.SURVIVAL_OUTCOME_RFS].performance
    assert estimates[survival_pb2.SURVIVAL_OUTCOME_RFS].HasField("performance")
    assert (figures.patients, figures.events, figures.reliable, figures.split) == (
        24, 7, False, "test")
    assert figures.source.startswith("held-out test split")
    assert figures.c_index.value == 0.68 and not figures.c_index.HasField("ci95")
    assert figures.integrated_brier_score.value == 0.17
    assert figures.oracle_c_index == 0.74
    assert not estimates[survival_pb2.SURVIVAL_OUTCOME_OS].HasField("performance")
    outside = [w for w in reply.warnings if "outside the training range" in w]
    assert outside == [
        "rfs: image features outside the training range: "
        f"{OutOfRange('shape_volume_ml', volume, volume * 2, volume * 3).describe()}"
        " — the model is extrapolating for this patient"]
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                  timeout=5).read().decode()
    assert ('cervixai_image_features_out_of_range_total{feature="shape_volume_ml",'
            'model="survival.rfs",service="survival"} 1.0') in text
    assert text.count("cervixai_image_features_out_of_range_total{") == 1
    assert service.stop() == 0


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "services.survival"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env,
                                                      f"{PREFIX}_PORT": "0"})


def test_a_tampered_bundle_is_refused(tmp_path: Path, clinical_bundle: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(clinical_bundle, copy)
    (copy / "survival" / "os_baseline.json").write_text('{"times_months": [1.0]}')
    done = _run({"CERVIXAI_BUNDLE": str(copy)})
    assert done.returncode == 2
    assert "sha256" in done.stderr and "refusing to load" in done.stderr


@pytest.mark.parametrize(("env", "message"), [
    ({"CERVIXAI_BUNDLE": ""}, "CERVIXAI_BUNDLE is not set"),
    ({"CERVIXAI_BUNDLE": "/nonexistent"}, "manifest.json is missing"),
    ({"CERVIXAI_BUNDLE": "/tmp", "CERVIXAI_SURVIVAL_THREADS": "x"}, "must be an integer"),
])
def test_bad_configuration_exits_nonzero(env: dict[str, str], message: str) -> None:
    done = _run(env)
    assert done.returncode != 0
    assert message in done.stderr
