"""Fail fast and shed load: a backend known not to answer fails requests at once (circuit
breaker) instead of after its whole deadline; past the in-flight bound the gateway answers 429 /
RESOURCE_EXHAUSTED at once instead of queueing."""

from __future__ import annotations

import json
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2

from gateway.backends import Breaker


@pytest.fixture
def gateway_with(start_service, gateway_env, fake_models, gateway_client):
    """A gateway process in front of the fakes, with extra environment."""
    started = []

    def start(**extra: str):  # type: ignore[no-untyped-def]
        env = {**gateway_env, "CERVIXAI_SEGMENTER_ADDRESS": fake_models.address,
               "CERVIXAI_CLASSIFIER_ADDRESS": fake_models.address,
               "CERVIXAI_SURVIVAL_ADDRESS": fake_models.address, **extra}
        process = start_service("gateway", prefix="CERVIXAI_GATEWAY", env=env)
        http = gateway_client(env, timeout=60)
        http.grpc_address = process.address   # type: ignore[attr-defined]
        started.append(http)
        return http

    yield start
    for http in started:
        http.close()


def _post(http, files, record):  # type: ignore[no-untyped-def]
    return http.post("/v1/assessments", data={"stage": "preoperative",
                                              "clinical": json.dumps(record)},
                     files=[("files", (n, d, "application/dicom")) for n, d in files])


def test_a_backend_that_stops_answering_fails_fast_then_recovers(
        gateway_with, fake_models, series_files, preoperative) -> None:
    http = gateway_with(CERVIXAI_GATEWAY_SEGMENT_TIMEOUT_SECONDS="1.5")
    assert _post(http, series_files, preoperative).status_code == 200
    # the segmenter stops answering (paused, overloaded) and its health says so
    fake_models.delay["segmenter"] = 5.0
    fake_models.health.set("cervix.v1.Segmenter", health_pb2.HealthCheckResponse.NOT_SERVING)
    started = time.monotonic()
    first = _post(http, series_files, preoperative)
    waited = time.monotonic() - started
    assert first.status_code == 503 and first.json()["error"]["backend"] == "segmenter"
    assert waited >= 1.4                                  # the deadline, once
    started = time.monotonic()
    fast = [_post(http, series_files, preoperative) for _ in range(3)]
    assert [r.status_code for r in fast] == [503] * 3
    assert all("failing fast" in r.json()["error"]["message"] for r in fast)
    assert time.monotonic() - started < 3 * 1.0           # not 3 × the 1.5 s deadline
    assert "127.0.0.1" not in json.dumps([r.json() for r in fast])   # no internal address
    fake_models.delay["segmenter"] = 0.0
    fake_models.health.set("cervix.v1.Segmenter", health_pb2.HealthCheckResponse.SERVING)
    time.sleep(1.2)                                       # the next health probe is due
    assert _post(http, series_files, preoperative).status_code == 200


def test_past_the_in_flight_bound_requests_are_shed_at_once(
        gateway_with, fake_models, series_files, preoperative) -> None:
    http = gateway_with(CERVIXAI_GATEWAY_MAX_IN_FLIGHT="1")
    fake_models.delay["segmenter"] = 3.0
    held: list[int] = []
    slow = threading.Thread(target=lambda: held.append(
        _post(http, series_files, preoperative).status_code))
    slow.start()
    time.sleep(1.0)                                       # the first one holds the only slot
    started = time.monotonic()
    shed = _post(http, series_files, preoperative)
    assert time.monotonic() - started < 1.5
    assert shed.status_code == 429 and shed.headers["Retry-After"] == "1"
    assert shed.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
    slow.join(30)
    assert held == [200]
    metrics = http.get("/metrics").text
    assert 'code="RESOURCE_EXHAUSTED"' in metrics


def test_the_grpc_api_sheds_with_resource_exhausted(gateway_with, fake_models, series_files,
                                                    preoperative) -> None:
    from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
    from cervixai.clinical.proto import record_to_proto
    from cervixai.clinical.schema import Stage
    from cervixai.clinical.validate import validate_record

    http = gateway_with(CERVIXAI_GATEWAY_MAX_IN_FLIGHT="1")
    fake_models.delay["segmenter"] = 3.0
    request = gateway_pb2.AssessRequest(
        stage=common_pb2.STAGE_PREOPERATIVE,
        clinical=record_to_proto(validate_record(preoperative, Stage.PREOPERATIVE)),
        dicom_files=[gateway_pb2.DicomFile(name=n, data=d) for n, d in series_files])
    with grpc.insecure_channel(http.grpc_address,
                               options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        first = stub.Assess.future(request, timeout=30)
        time.sleep(1.0)
        with pytest.raises(grpc.RpcError) as info:
            stub.Assess(request, timeout=30)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert dict(info.value.trailing_metadata())["retry-after"] == "1"
        first.result()


def test_the_breaker_probes_at_most_once_a_second_and_closes_on_serving() -> None:
    answers = [(False, "NOT_SERVING"), (True, "SERVING")]
    probes: list[float] = []

    def probe() -> tuple[bool, str]:
        probes.append(time.monotonic())
        return answers.pop(0)

    breaker = Breaker(probe, probe_seconds=0.2)
    assert breaker.check() is None                        # closed: no probe
    breaker.trip("no answer within 1.0 s")
    assert breaker.check() == "no answer within 1.0 s" and probes == []   # not yet due
    time.sleep(0.25)
    assert breaker.check() == "health NOT_SERVING" and len(probes) == 1
    assert breaker.check() == "health NOT_SERVING" and len(probes) == 1   # waits again
    time.sleep(0.25)
    assert breaker.check() is None and not breaker.is_open and len(probes) == 2
