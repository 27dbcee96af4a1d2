"""The shared server bootstrap: health, reflection, limits, error mapping, metrics, draining."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from prometheus_client import REGISTRY

from cervix.v1 import classifier_pb2, classifier_pb2_grpc, common_pb2
from cervixai.clinical import Stage
from cervixai.clinical.proto import record_from_proto
from cervixai.errors import NotReady
from cervixai.service import ServerConfig, channel_options, create_server, violations_from_error

SERVICE = "cervix.v1.Classifier"
MIB = 1024 * 1024


class EchoClassifier(classifier_pb2_grpc.ClassifierServicer):
    """Validates the record like a real servicer and answers from the request's own features."""

    def __init__(self) -> None:
        self.ready = True
        self.release = threading.Event()
        self.release.set()

    def Predict(self, request, context):
        if not self.ready:
            raise NotReady("model not loaded")
        if request.stage == common_pb2.STAGE_UNSPECIFIED:
            raise RuntimeError("secret internal detail")
        record_from_proto(request.clinical, Stage.PREOPERATIVE)
        self.release.wait(10)
        n = len(request.image_features.lesion_slice.data)
        return classifier_pb2.ClassifyResponse(warnings=[f"{n} bytes"])


@pytest.fixture
def served() -> Iterator[tuple[EchoClassifier, grpc.Channel, object]]:
    servicer = EchoClassifier()
    app = create_server(ServerConfig(port=0, max_message_bytes=16 * MIB, grace_seconds=5),
                        "test", [(classifier_pb2_grpc.add_ClassifierServicer_to_server, servicer)],
                        [SERVICE])
    app.start()
    channel = grpc.insecure_channel(app.address, options=channel_options(16 * MIB))
    yield servicer, channel, app
    channel.close()
    app.stop(0)


def _valid_request(n_bytes: int = 4) -> classifier_pb2.ClassifyRequest:
    request = classifier_pb2.ClassifyRequest(stage=common_pb2.STAGE_PREOPERATIVE)
    request.clinical.age_years = 50
    request.clinical.scca_ng_ml = 1.5
    request.clinical.comorbidity = 1
    request.clinical.leep_history = 1
    request.clinical.hpv_status = 1
    request.image_features.lesion_slice.data = b"\0" * n_bytes
    return request


def test_health_starts_not_serving_until_ready(served) -> None:
    _, channel, app = served
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    app.set_serving(True)
    reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        stub.Check(health_pb2.HealthCheckRequest(service="cervix.v1.Nope"), timeout=5)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_services(served, version: str) -> None:
    _, channel, _ = served
    # the v1 service called by its own method path (grpcio-reflection has no v1 stub); the
    # messages are the same on the wire
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    replies = call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
            "grpc.reflection.v1.ServerReflection"} <= names
    described = call(iter([reflection_pb2.ServerReflectionRequest(
        file_containing_symbol=SERVICE)]), timeout=5)
    assert next(iter(described)).file_descriptor_response.file_descriptor_proto


def test_invalid_input_becomes_invalid_argument_with_field_violations(served) -> None:
    _, channel, _ = served
    request = _valid_request()
    request.clinical.age_years = 7
    request.clinical.ClearField("scca_ng_ml")
    with pytest.raises(grpc.RpcError) as info:
        classifier_pb2_grpc.ClassifierStub(channel).Predict(request, timeout=5)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid request: clinical.age_years" in info.value.details()
    fields = {v.field: v.description for v in violations_from_error(info.value)}
    assert set(fields) == {"clinical.age_years", "clinical.scca_ng_ml"}
    assert "outside the plausible range" in fields["clinical.age_years"]


def test_not_ready_is_unavailable_and_bugs_are_internal_without_details(served) -> None:
    servicer, channel, _ = served
    stub = classifier_pb2_grpc.ClassifierStub(channel)
    servicer.ready = False
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(_valid_request(), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    servicer.ready = True
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(classifier_pb2.ClassifyRequest(), timeout=5)
    assert info.value.code() is grpc.StatusCode.INTERNAL
    assert "secret" not in info.value.details()


def test_messages_larger_than_grpc_default_are_accepted(served) -> None:
    _, channel, _ = served
    size = 30 * 256 * 256 * 4  # a 30-slice float32 volume: 7.5 MiB, over the 4 MiB default
    reply = classifier_pb2_grpc.ClassifierStub(channel).Predict(_valid_request(size), timeout=10)
    assert reply.warnings == [f"{size} bytes"]
    with pytest.raises(grpc.RpcError) as info:
        classifier_pb2_grpc.ClassifierStub(channel).Predict(_valid_request(17 * MIB), timeout=10)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_requests_are_counted_by_method_and_code(served) -> None:
    _, channel, _ = served

    def count(code: str) -> float:
        value = REGISTRY.get_sample_value("cervixai_grpc_requests_total",
                                          {"service": "test", "method": "Predict", "code": code})
        return value or 0.0

    ok, bad = count("OK"), count("INVALID_ARGUMENT")
    stub = classifier_pb2_grpc.ClassifierStub(channel)
    stub.Predict(_valid_request(), timeout=5)
    with pytest.raises(grpc.RpcError):
        stub.Predict(classifier_pb2.ClassifyRequest(stage=common_pb2.STAGE_PREOPERATIVE),
                     timeout=5)
    assert (count("OK"), count("INVALID_ARGUMENT")) == (ok + 1, bad + 1)


def test_stop_drains_in_flight_requests_and_refuses_new_ones(served) -> None:
    servicer, channel, app = served
    app.set_serving(True)
    servicer.release.clear()
    stub = classifier_pb2_grpc.ClassifierStub(channel)
    future = stub.Predict.future(_valid_request(), timeout=10)
    time.sleep(0.3)  # the request is now inside the servicer
    stopper = threading.Thread(target=app.stop, args=(5,))
    stopper.start()
    time.sleep(0.3)
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(app.address))
    with pytest.raises(grpc.RpcError):  # new RPCs are refused while draining
        health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=2)
    servicer.release.set()
    assert future.result(timeout=10).warnings == ["4 bytes"]
    stopper.join(10)
    assert not stopper.is_alive()


def test_config_from_env_validates() -> None:
    env = {"CERVIXAI_X_PORT": "50051", "CERVIXAI_X_MAX_MESSAGE_BYTES": str(32 * MIB)}
    config = ServerConfig.from_env("CERVIXAI_X", env)
    assert (config.port, config.max_message_bytes) == (50051, 32 * MIB)
    with pytest.raises(ValueError, match="CERVIXAI_X_PORT must be an integer, got 'http'"):
        ServerConfig.from_env("CERVIXAI_X", {"CERVIXAI_X_PORT": "http"})
    with pytest.raises(ValueError, match="at least 4 MiB"):
        ServerConfig.from_env("CERVIXAI_X", {"CERVIXAI_X_MAX_MESSAGE_BYTES": "1000"})
    with pytest.raises(ValueError, match="both a certificate and a key"):
        ServerConfig(tls_cert="/x.pem")


class _FailingModel:
    """Loads, then fails its warm-up the way onnxruntime does on an incompatible graph."""

    def __init__(self) -> None:
        self.loaded = False

    def load(self) -> None:
        self.loaded = True

    def warm_up(self) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Unexpected input type")


def test_a_model_that_cannot_warm_up_stops_the_server_with_one_line(capsys) -> None:
    import signal

    from cervixai.service import EXIT_BAD_BUNDLE, serve

    app = create_server(ServerConfig(port=0, grace_seconds=1), "survival", [], [SERVICE])
    model = _FailingModel()
    readied: list[bool] = []
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        status = serve(app, model, lambda: readied.append(True))
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert status == EXIT_BAD_BUNDLE and model.loaded and not readied
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["survival: cannot serve the model bundle: [ONNXRuntimeError] : 2 : "
                   "INVALID_ARGUMENT : Unexpected input type"]
    channel = grpc.insecure_channel(app.address)
    with pytest.raises(grpc.RpcError) as info:  # stopped: nothing listens any more
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    channel.close()


def test_reflection_can_be_turned_off() -> None:
    config = ServerConfig.from_env("CERVIXAI_X", {"CERVIXAI_X_REFLECTION": "false"})
    assert not config.reflection and ServerConfig.from_env("CERVIXAI_X", {}).reflection
    with pytest.raises(ValueError, match="CERVIXAI_X_REFLECTION must be true or false"):
        ServerConfig.from_env("CERVIXAI_X", {"CERVIXAI_X_REFLECTION": "maybe"})
    app = create_server(ServerConfig(port=0, reflection=False), "test", [], [SERVICE])
    app.start()
    try:
        with grpc.insecure_channel(app.address) as channel:
            call = channel.stream_stream(
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
            with pytest.raises(grpc.RpcError) as info:
                list(call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                          timeout=5))
        assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        app.stop(0)
