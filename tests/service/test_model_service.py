"""The model-service contract: a fourth model service in a page of code, served the way the
three are (readiness gate, model-info metric after warm-up, one inference timer, --check)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY

from cervix.v1 import classifier_pb2, classifier_pb2_grpc
from cervixai.bundle import Bundle, BundleError, FileRef, ModelEntry, add_file, write_entry
from cervixai.service import (
    BundleModel,
    ModelService,
    ServedEntry,
    channel_options,
    run_model_service,
)
from cervixai.service.components import Component
from cervixai.service.model import publish

COMPONENT = Component("echo", "tests.echo", "CERVIXAI_ECHO", "cervix.v1.Classifier", 0)


# -- the fourth service: everything that is its own --------------------------------------------
@dataclass(frozen=True)
class EchoSettings:
    warning: str = "echo"

    @classmethod
    def from_env(cls, prefix: str, env: Mapping[str, str]) -> EchoSettings:
        return cls(env.get(f"{prefix}_WARNING") or "echo")


class EchoModel(BundleModel):
    """Answers with the probability its bundle entry holds."""

    service = "echo"

    def __init__(self, bundle_path: Path, settings: EchoSettings) -> None:
        super().__init__(bundle_path)
        self.settings = settings
        self.release = threading.Event()
        self.release.set()

    def _load(self, bundle: Bundle) -> Iterable[ServedEntry]:
        self.table = json.loads(bundle.verified_bytes("echo"))
        return [ServedEntry(bundle.entry("echo"))]

    def _warm_up(self) -> None:
        self.release.wait(10)
        if not 0 <= self.predict() <= 1:
            raise BundleError("the echo table holds no probability")

    def predict(self) -> float:
        with self.timed("echo"):
            return float(self.table["probability"])


class EchoServicer(classifier_pb2_grpc.ClassifierServicer):
    def __init__(self, model: EchoModel) -> None:
        self.model = model

    def Predict(self, request: classifier_pb2.ClassifyRequest, context: object
                ) -> classifier_pb2.ClassifyResponse:
        reply = classifier_pb2.ClassifyResponse(warnings=[self.model.settings.warning])
        reply.predictions.add(probability=self.model.predict(),
                              model=self.model.served[0].entry.to_proto())
        return reply


SERVICE = ModelService(COMPONENT, EchoSettings, EchoModel, EchoServicer,
                       classifier_pb2_grpc.add_ClassifierServicer_to_server)


# -- the tests ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """run_model_service configures the process's logging (to a stderr that capsys replaces)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def _bundle(root: Path, probability: object) -> Path:
    ref: FileRef = add_file(root, "echo/table.json", json.dumps(
        {"probability": probability}).encode())
    write_entry(root, ModelEntry("echo", "echo", "table", "none", {"model": ref}))
    return root


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[EchoModel, grpc.Channel, object]]:
    config = SERVICE.config({"CERVIXAI_BUNDLE": str(_bundle(tmp_path / "b", 0.25)),
                             "CERVIXAI_ECHO_HOST": "127.0.0.1", "CERVIXAI_ECHO_WARNING": "hi"})
    model, app = SERVICE.create(config)
    app.start()
    channel = grpc.insecure_channel(app.address, options=channel_options(8 << 20))
    yield model, channel, app
    channel.close()
    app.stop(0)


def test_requests_wait_for_warm_up_then_are_served_timed_and_identified(served) -> None:
    model, channel, app = served
    predict = classifier_pb2_grpc.ClassifierStub(channel).Predict
    with pytest.raises(grpc.RpcError) as info:
        predict(classifier_pb2.ClassifyRequest(), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "echo model is still loading" in info.value.details()
    model.load()
    with pytest.raises(grpc.RpcError) as info:   # loaded but not warmed up: still not ready
        predict(classifier_pb2.ClassifyRequest(), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    model.warm_up()
    publish(COMPONENT, model, app.address)
    before = REGISTRY.get_sample_value("cervixai_model_inference_seconds_count",
                                       {"service": "echo", "model": "echo"}) or 0
    reply = predict(classifier_pb2.ClassifyRequest(), timeout=5)
    entry = model.served[0].entry
    assert reply.predictions[0].probability == pytest.approx(0.25)
    assert list(reply.warnings) == ["hi"]
    assert (reply.predictions[0].model.name, reply.predictions[0].model.version,
            reply.predictions[0].model.sha256) == ("echo", entry.version,
                                                   entry.files["model"].sha256)
    assert REGISTRY.get_sample_value("cervixai_model_inference_seconds_count",
                                     {"service": "echo", "model": "echo"}) == before + 1
    assert REGISTRY.get_sample_value("cervixai_model_info", {
        "service": "echo", "model": "echo", "version": entry.version,
        "sha256": entry.files["model"].sha256, "algorithm": "table", "feature_set": "none",
        "provider": "CPUExecutionProvider"}) == 1


@pytest.mark.parametrize(("probability", "status", "words"), [
    (0.5, 0, "echo: servable: echo"),
    (7.0, 2, "echo: cannot serve the model bundle: the echo table holds no probability"),
])
def test_check_loads_and_warms_up_without_listening(tmp_path: Path, capsys, probability: float,
                                                    status: int, words: str) -> None:
    env = {"CERVIXAI_BUNDLE": str(_bundle(tmp_path / "b", probability))}
    assert run_model_service(SERVICE, ["--check"], env) == status
    out = capsys.readouterr()
    assert words in out.out + out.err


@pytest.mark.parametrize(("env", "words"), [
    ({}, "CERVIXAI_BUNDLE is not set"),
    ({"CERVIXAI_BUNDLE": "b", "CERVIXAI_ECHO_PORT": "eighty"},
     "CERVIXAI_ECHO_PORT must be an integer, got 'eighty'"),
])
def test_a_bad_configuration_exits_2_saying_why(env: dict[str, str], capsys, words: str) -> None:
    assert run_model_service(SERVICE, ["--check"], env) == 2
    assert f"echo: configuration error: {words}" in capsys.readouterr().err


def test_a_tampered_bundle_is_refused_by_the_base_load(tmp_path: Path) -> None:
    root = _bundle(tmp_path / "b", 0.5)
    (root / "echo" / "table.json").write_text('{"probability": 0.9}')
    model = EchoModel(root, EchoSettings())
    with pytest.raises(BundleError, match="sha256"):
        model.load()
    assert not model.ready and model.served == ()
