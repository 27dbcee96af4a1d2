"""The segmenter as a real process on a loopback port: Segment, health, errors, metrics, SIGTERM."""

from __future__ import annotations

import importlib.util
import json
import socket
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cervix.v1 import segmenter_pb2_grpc
from cervixai.features import measure
from cervixai.masks import decode_mask
from cervixai.service import channel_options, violations_from_error
from cervixai.wire import tensor_from_proto

PREFIX = "CERVIXAI_SEGMENTER"
MIB = 1024 * 1024


def _load_cases():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("segmenter_cases", Path(__file__).with_name(
        "cases.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cases = _load_cases()


def _env(bundle: Path, **extra: str) -> dict[str, str]:
    return {"CERVIXAI_BUNDLE": str(bundle), f"{PREFIX}_MAX_SLICES": str(cases.MAX_SLICES),
            f"{PREFIX}_INTRA_OP_THREADS": "1", f"{PREFIX}_GRACE_SECONDS": "20", **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


def _stub(address: str) -> segmenter_pb2_grpc.SegmenterStub:
    channel = grpc.insecure_channel(address, options=channel_options(64 * MIB))
    return segmenter_pb2_grpc.SegmenterStub(channel)


def test_segment_answers_with_mask_measurements_and_identity(
        start_service, segmenter_bundle: Path, manifest_entry: dict, cohort_cases: list) -> None:
    metrics_port = free_port()
    service = start_service("services.segmenter", prefix=PREFIX, env=_env(
        segmenter_bundle, **{f"{PREFIX}_METRICS_PORT": str(metrics_port)}))
    with grpc.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "cervix.v1.Segmenter"):
            status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING

    case = cohort_cases[0]
    stub = _stub(service.address)
    reply = stub.Segment(cases.request(case.volume, return_probabilities=True), timeout=60)
    mask = decode_mask(reply.mask)
    assert mask.shape == case.volume.shape
    assert reply.provider == "CPUExecutionProvider"
    sha = manifest_entry["files"]["model"]["sha256"]
    assert reply.model.name == "segmenter" and reply.model.sha256 == sha
    assert reply.model.version == sha[:12]
    assert reply.threshold == pytest.approx(manifest_entry["threshold"])
    expected = measure(mask, cases.SPACING)
    m = reply.measurements
    assert (m.lesion_found, m.voxel_count, m.largest_slice_index) == (
        expected.lesion_found, expected.voxel_count, expected.largest_slice_index)
    assert m.volume_ml == pytest.approx(expected.volume_ml)
    assert m.max_diameter_mm == pytest.approx(expected.max_diameter_mm)
    probabilities = tensor_from_proto(reply.probabilities, field="probabilities")
    assert probabilities.shape == case.volume.shape
    assert (probabilities[mask] >= reply.threshold).all()

    # An odd depth comes back with the same depth.
    odd = stub.Segment(cases.request(cases.phantom(13)), timeout=60)
    assert list(odd.mask.shape) == [13, 256, 256]

    text = _metrics(metrics_port)
    assert 'provider="CPUExecutionProvider"' in text
    assert f'sha256="{sha}"' in text
    assert 'cervixai_model_inference_seconds_count{model="segmenter",service="segmenter"} 2.0' \
        in text
    assert 'cervixai_grpc_requests_total{code="OK",method="Segment",service="segmenter"} 2.0' \
        in text
    log = service.log.read_text()
    started = [json.loads(line) for line in log.splitlines() if "serving segmenter" in line]
    assert started and started[0]["providers"] == {"segmenter": "CPUExecutionProvider"}


def test_every_bad_input_is_invalid_argument(start_service, segmenter_bundle: Path) -> None:
    service = start_service("services.segmenter", prefix=PREFIX, env=_env(segmenter_bundle))
    stub = _stub(service.address)
    for name, message, field, words in cases.BAD_REQUESTS:
        with pytest.raises(grpc.RpcError) as caught:
            stub.Segment(message, timeout=30)
        error = caught.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        violations = violations_from_error(error)
        assert any(v.field == field and words in v.description for v in violations), (
            name, violations)
        assert field in error.details(), name
    # The server is still healthy afterwards.
    assert list(stub.Segment(cases.request(cases.phantom(3)), timeout=30).mask.shape) == [3, 256,
                                                                                         256]


def test_sigterm_drains_the_request_in_flight(start_service, segmenter_bundle: Path) -> None:
    metrics_port = free_port()
    service = start_service("services.segmenter", prefix=PREFIX, env=_env(
        segmenter_bundle, **{f"{PREFIX}_METRICS_PORT": str(metrics_port),
                             f"{PREFIX}_GRACE_SECONDS": "120"}))
    stub = _stub(service.address)
    future = stub.Segment.future(cases.request(cases.phantom(cases.MAX_SLICES)), timeout=120)
    deadline = time.monotonic() + 30
    gauge = 'cervixai_grpc_in_flight_requests{service="segmenter"} 1.0'
    while gauge not in _metrics(metrics_port) and not future.done():
        assert time.monotonic() < deadline, "the request never became in flight"
        time.sleep(0.01)
    service.process.terminate()
    reply = future.result(timeout=120)
    assert list(reply.mask.shape) == [cases.MAX_SLICES, 256, 256]
    assert service.process.wait(60) == 0
    assert "draining" in service.log.read_text()


@pytest.mark.parametrize(("damage", "words"), [
    ("missing", "manifest.json is missing"),
    ("tampered", "sha256"),
    ("unset", "CERVIXAI_BUNDLE is not set"),
])
def test_a_bad_bundle_stops_the_process(start_service, bundle_copy: Path, damage: str,
                                        words: str) -> None:
    env = _env(bundle_copy)
    if damage == "missing":
        env["CERVIXAI_BUNDLE"] = str(bundle_copy / "nowhere")
    elif damage == "tampered":
        model = bundle_copy / "segmenter" / "model.onnx"
        model.write_bytes(model.read_bytes() + b"\0")
    else:
        env["CERVIXAI_BUNDLE"] = ""
    service = start_service("services.segmenter", prefix=PREFIX, env=env, wait=False)
    assert service.process.wait(60) == 2
    assert words in service.log.read_text()


def test_health_is_not_serving_while_loading(start_service, segmenter_bundle: Path) -> None:
    """Until the model is warmed up health says NOT_SERVING (and the shared readiness gate
    answers UNAVAILABLE: tests/service/test_model_service.py): poll from the first moment."""
    # Many warm-up inferences hold the process in NOT_SERVING long enough to be seen.
    service = start_service("services.segmenter", prefix=PREFIX, env=_env(
        segmenter_bundle, **{f"{PREFIX}_WARMUP_RUNS": "40"}), wait=False)
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
            except grpc.RpcError:
                time.sleep(0.01)
                continue
            if status == health_pb2.HealthCheckResponse.NOT_SERVING and not seen:
                with pytest.raises(grpc.RpcError) as info:   # the readiness gate
                    _stub(service.address).Segment(cases.request(cases.phantom(2)), timeout=5)
                assert info.value.code() is grpc.StatusCode.UNAVAILABLE
            seen.add(status)
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
    assert seen == {health_pb2.HealthCheckResponse.NOT_SERVING,
                    health_pb2.HealthCheckResponse.SERVING}
