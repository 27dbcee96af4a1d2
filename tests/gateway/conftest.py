from __future__ import annotations

import io
import time
import zipfile
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from cervix.v1 import (
    classifier_pb2,
    classifier_pb2_grpc,
    common_pb2,
    segmenter_pb2,
    segmenter_pb2_grpc,
    survival_pb2,
    survival_pb2_grpc,
)
from cervixai.dicom.writer import PatientIdentity, series_datasets
from cervixai.errors import InvalidInput
from cervixai.masks import encode_mask
from cervixai.processes import wait_http
from cervixai.service.status import invalid_argument_status

IDENTITY = PatientIdentity(name="Doe^Jane", patient_id="MRN99887766", birth_date="19710203",
                           accession_number="ACC5551234", institution_name="Test Hospital")
PREOPERATIVE = {"age_years": 48, "comorbidity": "no", "hpv_status": "hpv16_18",
                "scca_ng_ml": 2.1, "leep_history": "no"}
POSTOPERATIVE = {
    **PREOPERATIVE, "figo_stage": "ib1", "surgery_approach": "laparoscopic",
    "operative_time_min": 180, "blood_loss_ml": 200, "transfusion": "no",
    "adjuvant_therapy": "yes", "tumor_size_cm": 3.2, "histology": "squamous",
    "stromal_invasion_depth": "outer_third", "lvsi": "yes", "margin_involved": "no",
    "parametrial_involvement": "no", "lymph_node_metastasis": "no", "p53": "positive",
    "p16": "positive", "ki67_index": "40_60"}


def dicom_files(slices: int = 16, size: int = 320, seed: int = 0) -> list[tuple[str, bytes]]:
    """A synthetic coronal series with identifying headers, as (name, bytes) uploads."""
    from cervixai.cohort.synth.image import render

    rendered = render(np.random.default_rng(seed), tumor_size_cm=3.5, heterogeneity=0.0,
                      irregularity=0.0, matrix=size, pixel_mm=0.7, slice_mm=5.0, slices=slices)
    out = []
    for k, ds in enumerate(series_datasets(rendered.volume, spacing_mm=(5.0, 0.7, 0.7),
                                           origin_mm=rendered.grid.origin_mm,
                                           patient=IDENTITY)):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((f"slice-{k:03d}.dcm", buffer.getvalue()))
    return out


def as_zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(f"study/{name}", data)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def series_files() -> list[tuple[str, bytes]]:
    return dicom_files()


@pytest.fixture
def preoperative() -> dict[str, object]:
    return dict(PREOPERATIVE)


@pytest.fixture
def postoperative() -> dict[str, object]:
    return dict(POSTOPERATIVE)


@pytest.fixture
def identity() -> PatientIdentity:
    return IDENTITY


@pytest.fixture
def zip_of() -> object:
    return as_zip


@pytest.fixture
def gateway_env(unused_port: object, tmp_path: Path) -> dict[str, str]:
    """Environment for a gateway whose backends listen nowhere (ports just freed)."""
    port = unused_port  # type: ignore[assignment]
    return {
        "CERVIXAI_GATEWAY_HTTP_PORT": str(port()),  # type: ignore[operator]
        "CERVIXAI_SEGMENTER_ADDRESS": f"127.0.0.1:{port()}",  # type: ignore[operator]
        "CERVIXAI_CLASSIFIER_ADDRESS": f"127.0.0.1:{port()}",  # type: ignore[operator]
        "CERVIXAI_SURVIVAL_ADDRESS": f"127.0.0.1:{port()}",  # type: ignore[operator]
        "CERVIXAI_GATEWAY_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }


class FakeModels:
    """In-process stand-ins for the three model services, on one gRPC server (port 0): the
    segmenter outlines a cube in the volume's centre, the classifier and the survival service
    answer fixed figures. ``reject[name]`` makes one of them refuse every request with those
    field violations; ``delay[name]`` makes one answer that many seconds late (a paused or
    overloaded backend); ``received[name]`` keeps the requests they got."""

    def __init__(self) -> None:
        self.reject: dict[str, list[object]] = {}
        self.delay: dict[str, float] = {}
        self.received: dict[str, list[object]] = {"segmenter": [], "classifier": [],
                                                  "survival": []}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024)])
        segmenter_pb2_grpc.add_SegmenterServicer_to_server(_Servicer(self, "segmenter"),
                                                           self.server)
        classifier_pb2_grpc.add_ClassifierServicer_to_server(_Servicer(self, "classifier"),
                                                             self.server)
        survival_pb2_grpc.add_SurvivalServicer_to_server(_Servicer(self, "survival"),
                                                         self.server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        for name in ("", "cervix.v1.Segmenter", "cervix.v1.Classifier", "cervix.v1.Survival"):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(0)


class _Servicer:
    """One fake service; grpc finds its method by name (Segment, Predict)."""

    def __init__(self, models: FakeModels, name: str) -> None:
        self.models, self.name = models, name

    def _refuse(self, context: object) -> None:
        time.sleep(self.models.delay.get(self.name, 0.0))
        violations = self.models.reject.get(self.name)
        if violations:
            context.abort_with_status(  # type: ignore[attr-defined]
                invalid_argument_status(InvalidInput(violations)))  # type: ignore[arg-type]

    def Segment(self, request, context):
        self.models.received["segmenter"].append(request)
        self._refuse(context)
        shape = tuple(int(n) for n in request.volume.voxels.shape)
        mask = np.zeros(shape, bool)
        d, r, c = (n // 2 for n in shape)
        mask[max(d - 2, 0):d + 2, r - 20:r + 20, c - 20:c + 20] = True
        return segmenter_pb2.SegmentResponse(
            mask=encode_mask(mask), provider="FakeExecutionProvider",
            measurements=common_pb2.LesionMeasurements(
                lesion_found=True, volume_ml=12.5, max_diameter_mm=31.0,
                largest_slice_index=d, voxel_count=int(mask.sum()),
                bounding_box=common_pb2.BoundingBox(slice_start=max(d - 2, 0), slice_stop=d + 2,
                                                    row_start=r - 20, row_stop=r + 20,
                                                    column_start=c - 20, column_stop=c + 20)),
            model=common_pb2.ModelIdentity(name="segmenter", version="fake-seg-1"))

    def Predict(self, request, context):
        self.models.received[self.name].append(request)
        self._refuse(context)
        if self.name == "classifier":
            tasks = ((common_pb2.TASK_PARAMETRIAL_INVASION, common_pb2.TASK_LYMPH_NODE_METASTASIS)
                     if request.stage == common_pb2.STAGE_PREOPERATIVE
                     else (common_pb2.TASK_RECURRENCE, common_pb2.TASK_DEATH))
            return classifier_pb2.ClassifyResponse(predictions=[
                classifier_pb2.TaskPrediction(
                    task=task, probability=0.2 + 0.1 * k, label=False, threshold=0.4,
                    target_sensitivity=0.9,
                    model=common_pb2.ModelIdentity(name=f"classifier.{k}", version="fake-1"),
                    operating_characteristics=classifier_pb2.OperatingCharacteristics(
                        source="fake", cohort="synthetic", split="test", patients=50,
                        positives=12, reliable=True, threshold=0.4,
                        sensitivity=common_pb2.Proportion(value=0.75, numerator=9,
                                                          denominator=12),
                        auc=common_pb2.MetricValue(value=0.8)))
                for k, task in enumerate(tasks)], warnings=["fake classifier"])
        return survival_pb2.SurvivalResponse(estimates=[
            survival_pb2.SurvivalEstimate(
                outcome=outcome, median_reached=False, follow_up_months=60.0, risk_score=0.1,
                survival_probability_12_months=0.95, survival_probability_36_months=0.85,
                survival_probability_60_months=0.8,
                curve=[survival_pb2.SurvivalPoint(months=m, probability=1 - m / 300)
                       for m in (0.0, 12.0, 36.0, 60.0)],
                model=common_pb2.ModelIdentity(name=f"survival.{outcome}", version="fake-1"))
            for outcome in (survival_pb2.SURVIVAL_OUTCOME_RFS, survival_pb2.SURVIVAL_OUTCOME_OS)])


@pytest.fixture
def fake_models() -> object:
    models = FakeModels()
    yield models
    models.stop()


def http_client(env: dict[str, str], timeout: float) -> httpx.Client:
    """A client of the gateway ``env`` configures, once its HTTP port answers (30 s at most)."""
    return httpx.Client(base_url=wait_http(int(env["CERVIXAI_GATEWAY_HTTP_PORT"])),
                        timeout=timeout)


def _strict(schema: object) -> object:
    """A schema with no room for fields it does not declare (drift fails)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@pytest.fixture
def strict_spec() -> object:
    """The gateway's served OpenAPI document, strict: ``strict_spec(http)``."""
    return lambda http: _strict(http.get("/openapi.json").json())


@pytest.fixture
def gateway_client() -> object:
    """:func:`http_client`, for test modules (conftest is not importable under importlib)."""
    return http_client


@pytest.fixture
def served_gateway(start_service, gateway_env, fake_models):
    """A gateway process whose three backends are :class:`FakeModels`: (process, HTTP client,
    audit log path, fakes)."""
    env = {**gateway_env, "CERVIXAI_SEGMENTER_ADDRESS": fake_models.address,
           "CERVIXAI_CLASSIFIER_ADDRESS": fake_models.address,
           "CERVIXAI_SURVIVAL_ADDRESS": fake_models.address}
    process = start_service("gateway", prefix="CERVIXAI_GATEWAY", env=env)
    http = http_client(env, timeout=60)
    yield process, http, Path(env["CERVIXAI_GATEWAY_AUDIT_LOG"]), fake_models
    http.close()
