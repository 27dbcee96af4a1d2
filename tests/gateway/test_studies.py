"""Studies from the PACS through the gateway: a study's clinical record and status, checked at
the edge and sent on to the DICOM listener (gateway/studies*.py), over HTTP and gRPC.

The listener is a fake ``cervix.v1.Studies`` server in the test (it records what it receives);
the gateway is a real process, except for the authorization cases, which run the gateway's app
and gRPC server in-process with a key set of the test's own.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from cervix.v1 import common_pb2, studies_pb2, studies_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from cervixai.processes import ServiceProcess, free_port
from cervixai.service import ServerConfig, create_server, violations_from_error
from gateway.auth import AuthConfig, Authenticator, KeySet
from gateway.authz import GrpcAuthorization, grpc_scope, http_scope
from gateway.config import GatewayConfig
from gateway.http_api import create_app
from gateway.request import study_key_from_accession, study_key_from_uid
from gateway.service import Gateway
from gateway.studies_api import StudiesServicer

with warnings.catch_warnings():  # starlette's notice about httpx2; the client works the same
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

UID = "1.2.840.113619.2.55.3.2831164356.3117.1595845063.975"
KNOWN_ACCESSION = "RAD/24-0917 A"   # a slash and a space: both allowed in an SH value
PREOPERATIVE = {"age_years": 48, "comorbidity": "no", "hpv_status": "hpv16_18",
                "scca_ng_ml": 2.1, "leep_history": "no"}
POSTOPERATIVE = {
    **PREOPERATIVE, "figo_stage": "ib1", "surgery_approach": "laparoscopic",
    "operative_time_min": 180, "blood_loss_ml": 200, "transfusion": "no",
    "adjuvant_therapy": "yes", "tumor_size_cm": 3.2, "histology": "squamous",
    "stromal_invasion_depth": "outer_third", "lvsi": "yes", "margin_involved": "no",
    "parametrial_involvement": "no", "lymph_node_metastasis": "no", "p53": "positive",
    "p16": "positive", "ki67_index": "40_60"}
ASSESSING = studies_pb2.StudyStatus(
    state=studies_pb2.STUDY_STATE_EXPORTING, instances=26, series=1, bytes=3_400_000,
    clinical_received=True, stage=common_pb2.STAGE_POSTOPERATIVE, request_id="ab12",
    exports=[studies_pb2.Export(kind="dicom-seg", destination="PACS@10.0.0.5:104",
                                state=studies_pb2.EXPORT_STATE_SENT, attempts=1,
                                last_status="0x0000")],
    received_at=1_790_000_000.5, updated_at=1_790_000_100.25)
# the HTTP JSON of ASSESSING: proto field names, enums by name, int64 as decimal strings
ASSESSING_JSON = {
    "state": "STUDY_STATE_EXPORTING", "instances": "26", "series": "1", "bytes": "3400000",
    "clinical_received": True, "stage": "STAGE_POSTOPERATIVE", "request_id": "ab12",
    "exports": [{"kind": "dicom-seg", "destination": "PACS@10.0.0.5:104",
                 "state": "EXPORT_STATE_SENT", "attempts": 1, "last_status": "0x0000"}],
    "error": "", "received_at": 1_790_000_000.5, "updated_at": 1_790_000_100.25}


class FakeListener(studies_pb2_grpc.StudiesServicer):
    """A ``cervix.v1.Studies`` server on a free port: PutClinical answers AWAITING_IMAGES (or
    aborts with ``refuse``); GetStudy answers :data:`ASSESSING` for the keys in ``known`` and
    NOT_FOUND for the others. ``puts`` and ``gets`` keep what it received."""

    def __init__(self) -> None:
        self.puts: list[studies_pb2.PutClinicalRequest] = []
        self.gets: list[studies_pb2.StudyRef] = []
        self.known = {UID, KNOWN_ACCESSION}
        self.refuse: grpc.StatusCode | None = None
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        studies_pb2_grpc.add_StudiesServicer_to_server(self, self.server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.health.set("cervix.v1.Studies", health_pb2.HealthCheckResponse.SERVING)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.address = f"127.0.0.1:{self.port}"

    def PutClinical(self, request: Any, context: Any) -> studies_pb2.StudyStatus:
        self.puts.append(request)
        if self.refuse is not None:
            context.abort(self.refuse, "the assessment has started")
        return studies_pb2.StudyStatus(state=studies_pb2.STUDY_STATE_AWAITING_IMAGES,
                                       clinical_received=True, stage=request.stage,
                                       received_at=1_790_000_000.0)

    def GetStudy(self, request: Any, context: Any) -> studies_pb2.StudyStatus:
        self.gets.append(request)
        if (request.study_instance_uid or request.accession_number) not in self.known:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such study")
        return ASSESSING

    def stop(self) -> None:
        self.server.stop(0).wait()


def _gateway_env(tmp: Path, listener: str | None, **more: str) -> dict[str, str]:
    """A gateway on free ports whose model services listen nowhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERVIXAI_")}
    env.update({"CERVIXAI_GATEWAY_HTTP_PORT": str(free_port()),
                "CERVIXAI_GATEWAY_PORT": str(free_port()),
                "CERVIXAI_GATEWAY_HOST": "127.0.0.1",
                "CERVIXAI_SEGMENTER_ADDRESS": f"127.0.0.1:{free_port()}",
                "CERVIXAI_CLASSIFIER_ADDRESS": f"127.0.0.1:{free_port()}",
                "CERVIXAI_SURVIVAL_ADDRESS": f"127.0.0.1:{free_port()}",
                "CERVIXAI_GATEWAY_AUDIT_LOG": str(tmp / "audit.jsonl"), **more})
    if listener:
        env["CERVIXAI_LISTENER_ADDRESS"] = listener
    return env


class Served:
    """A gateway process (HTTP client, gRPC channel, audit log) in front of a fake listener."""

    def __init__(self, tmp: Path, listener: FakeListener | None, **env: str) -> None:
        self.listener = listener
        self.env = _gateway_env(tmp, listener.address if listener else None, **env)
        self.audit = Path(self.env["CERVIXAI_GATEWAY_AUDIT_LOG"])
        self.process = ServiceProcess("gateway", int(self.env["CERVIXAI_GATEWAY_PORT"]),
                                      self.env, tmp / "gateway.log")
        self.process.wait_serving()
        self.http = httpx.Client(base_url=self.process.wait_http(
            int(self.env["CERVIXAI_GATEWAY_HTTP_PORT"])), timeout=30)
        self.channel = grpc.insecure_channel(self.process.address)
        self.studies = studies_pb2_grpc.StudiesStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.http.close()
        self.process.stop()

    def last_audit(self) -> dict[str, Any]:
        return json.loads(self.audit.read_text().splitlines()[-1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    listener = FakeListener()
    gateway = Served(tmp_path_factory.mktemp("studies"), listener)
    yield gateway
    gateway.close()
    listener.stop()


@pytest.fixture
def listener(served: Served) -> FakeListener:
    """The module's fake listener, with its records cleared and its refusals off."""
    assert served.listener is not None
    served.listener.puts.clear()
    served.listener.gets.clear()
    served.listener.refuse = None
    return served.listener


def _put(http: httpx.Client, path: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.put(path, content=content,
                    headers={"Content-Type": "application/json", **headers})


def _fields(reply: httpx.Response) -> set[str]:
    return {v["field"] for v in reply.json()["error"]["field_violations"]}


# ------------------------------------------------------------------ configuration, keys, scopes

@pytest.mark.parametrize(("env", "listener"), [
    ({}, None),
    ({"CERVIXAI_LISTENER_ADDRESS": ""}, None),
    ({"CERVIXAI_LISTENER_ADDRESS": "  "}, None),
    ({"CERVIXAI_LISTENER_ADDRESS": "cervixai-listener:50054"},
     ("listener", "cervixai-listener:50054", 5.0)),
    ({"CERVIXAI_LISTENER_ADDRESS": "127.0.0.1:50054",
      "CERVIXAI_GATEWAY_LISTENER_TIMEOUT_SECONDS": "2.5"}, ("listener", "127.0.0.1:50054", 2.5)),
])
def test_the_listener_is_configured_by_its_address(env: dict[str, str],
                                                   listener: tuple[str, str, float] | None
                                                   ) -> None:
    config = GatewayConfig.from_env(env).listener
    assert (None if config is None
            else (config.name, config.address, config.timeout_seconds)) == listener
    assert "listener" not in {b.name for b in GatewayConfig.from_env(env).backends}


def test_a_listener_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="listener timeout must be positive"):
        GatewayConfig.from_env({"CERVIXAI_LISTENER_ADDRESS": "127.0.0.1:1",
                                "CERVIXAI_GATEWAY_LISTENER_TIMEOUT_SECONDS": "0"})


@pytest.mark.parametrize(("uid", "problem"), [
    ("0", None), ("0.0", None), ("1.2.840.10008.1.2", None), ("1." + "2" * 62, None),
    ("", "is 0 characters"), ("1." + "2" * 63, "is 65 characters"),
    ("1.02.3", "component 2 has a leading zero"), ("00", "component 1 has a leading zero"),
    ("1..2", "component 2 is empty"), ("1.2.", "component 3 is empty"),
    (".1", "component 1 is empty"), ("1.2a", "component 2 holds something other"),
    (" 1.2", "component 1 holds something other"), ("1.٣", "component 2 holds something"),
])
def test_a_study_instance_uid_is_checked_as_dicom_ui(uid: str, problem: str | None) -> None:
    key = study_key_from_uid(uid, "study_instance_uid")
    if problem is None:
        assert (key.kind, key.value) == ("study", uid)   # type: ignore[union-attr]
    else:
        assert key.field == "study_instance_uid" and problem in key.description  # type: ignore[union-attr]
        assert uid not in key.description or not uid   # type: ignore[union-attr]


@pytest.mark.parametrize(("accession", "value", "problem"), [
    ("A1", "A1", None), ("RAD/24-0917 A", "RAD/24-0917 A", None), ("  ACC9  ", "ACC9", None),
    ("Ünïcødé-Nr", "Ünïcødé-Nr", None), ("x" * 16, "x" * 16, None),
    ("x" * 17, None, "is 17 characters"), ("", None, "is 0 characters"),
    ("   ", None, "is 0 characters"), ("A\\B", None, "backslash"),
    ("A\x00B", None, "control character"), ("A\nB", None, "control character"),
    ("A\x1b$B", None, "control character"), ("A\x85", None, "control character"),
])
def test_an_accession_number_is_checked_as_dicom_sh(accession: str, value: str | None,
                                                    problem: str | None) -> None:
    key = study_key_from_accession(accession, "accession_number")
    if problem is None:
        assert (key.kind, key.value) == ("accession", value)   # type: ignore[union-attr]
    else:
        assert key.field == "accession_number"   # type: ignore[union-attr]
        assert problem in key.description   # type: ignore[union-attr]


def test_the_keys_repr_never_shows_the_value() -> None:
    assert UID not in repr(study_key_from_uid(UID, "study_instance_uid"))


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("PUT", f"/v1/studies/{UID}/clinical", "cervixai.assess"),
    ("PUT", "/v1/accessions/A1/clinical", "cervixai.assess"),
    ("POST", f"/v1/studies/{UID}/clinical", "cervixai.assess"),
    ("DELETE", f"/v1/studies/{UID}", "cervixai.assess"),
    ("GET", f"/v1/studies/{UID}", "cervixai.read"),
    ("GET", "/v1/accessions/A1", "cervixai.read"),
    ("GET", "/v1/studies/{study_instance_uid}", "cervixai.read"),
    ("POST", "/dicom-web/studies", "cervixai.assess"),
    ("POST", f"/dicom-web/studies/{UID}", "cervixai.assess"),
])
def test_the_study_routes_scopes(method: str, path: str, scope: str) -> None:
    assert http_scope(method, path) == scope


def test_the_studies_grpc_scopes() -> None:
    assert grpc_scope("/cervix.v1.Studies/PutClinical") == "cervixai.assess"
    assert grpc_scope("/cervix.v1.Studies/GetStudy") == "cervixai.read"
    assert grpc_scope("/cervix.v1.Studies/StoreInstance") == "cervixai.assess"


# ------------------------------------------------------------------------- HTTP, served gateway

@pytest.mark.parametrize(("path", "key_field", "key"), [
    (f"/v1/studies/{UID}/clinical", "study_instance_uid", UID),
    (f"/v1/accessions/{quote(KNOWN_ACCESSION, safe='')}/clinical", "accession_number",
     KNOWN_ACCESSION),
    (f"/v1/accessions/{quote('  ' + KNOWN_ACCESSION + ' ', safe='')}/clinical",
     "accession_number", KNOWN_ACCESSION),
])
def test_a_clinical_record_is_checked_and_sent_on(served: Served, listener: FakeListener,
                                                  path: str, key_field: str, key: str) -> None:
    reply = _put(served.http, path, {"stage": "postoperative", "clinical": POSTOPERATIVE})
    assert reply.status_code == 202, reply.text
    assert reply.json() == {
        "state": "STUDY_STATE_AWAITING_IMAGES", "instances": "0", "series": "0", "bytes": "0",
        "clinical_received": True, "stage": "STAGE_POSTOPERATIVE", "request_id": "",
        "exports": [], "error": "", "received_at": 1_790_000_000.0, "updated_at": 0.0}
    (sent,) = listener.puts
    assert sent.study.WhichOneof("key") == key_field
    assert getattr(sent.study, key_field) == key
    assert sent.stage == common_pb2.STAGE_POSTOPERATIVE
    # the record as validated, exactly as an assessment's would reach the backends
    assert sent.clinical == record_to_proto(validate_record(POSTOPERATIVE, Stage.POSTOPERATIVE))
    line = served.last_audit()
    assert (line["audit"], line["api"], line["key"], line["stage"], line["status"],
            line["code"], line["state"]) == (
        "clinical", "http", "study" if key_field == "study_instance_uid" else "accession",
        "postoperative", "ok", "OK", "STUDY_STATE_AWAITING_IMAGES")


def test_an_invalid_record_is_refused_as_an_assessment_is_and_not_sent_on(
        served: Served, listener: FakeListener) -> None:
    record = {**PREOPERATIVE, "age_years": 140, "hpv_status": "maybe", "mystery": 1}
    reply = _put(served.http, f"/v1/studies/{UID}/clinical",
                 {"stage": "perioperative", "clinical": record})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["request_id"]
    line = served.last_audit()
    assert (line["audit"], line["key"], line["stage"], line["status"], line["code"]) == (
        "clinical", "study", "invalid", "rejected", "INVALID_ARGUMENT")
    assert line["request_id"] == error["request_id"]
    # the same violations, word for word, as POST /v1/assessments gives the same stage and record
    form = served.http.post("/v1/assessments", data={"stage": "perioperative",
                                                     "clinical": json.dumps(record)})
    assert form.status_code == 400
    expected = [v for v in form.json()["error"]["field_violations"] if v["field"] != "files"]
    assert error["field_violations"] == expected
    assert {"stage", "clinical.age_years", "clinical.hpv_status"} <= _fields(reply)
    assert listener.puts == []


@pytest.mark.parametrize(("case", "body", "content_type", "field", "words"), [
    ("not JSON", b"stage=preoperative", "application/json", "body", "must be a JSON object"),
    ("a form", b"stage=preoperative", "application/x-www-form-urlencoded", "body",
     "application/json"),
    ("NaN", b'{"stage": "preoperative", "clinical": {"age_years": NaN}}', "application/json",
     "body", "NaN is not a finite number"),
    ("too deep", b'{"stage": "preoperative", "clinical": {"a": ' + b"[" * 12 + b"]" * 12 + b"}}",
     "application/json", "body", "nests 14 levels deep; the limit is 9"),
    ("too large", json.dumps({"stage": "preoperative",
                              "clinical": {**PREOPERATIVE, "note": "x" * 70_000}}).encode(),
     "application/json", "body", "larger than the limit of 66560 bytes"),
    ("an array", b"[1, 2]", "application/json", "body", "must be a JSON object"),
    ("no record", b'{"stage": "preoperative"}', "application/json", "clinical",
     "the field is missing"),
    ("record not an object", b'{"stage": "preoperative", "clinical": "age 48"}',
     "application/json", "clinical", "must be a JSON object of variables"),
    ("stage not a string", json.dumps({"stage": 1, "clinical": PREOPERATIVE}).encode(),
     "application/json", "stage", "must be the string"),
    ("unknown field", json.dumps({"stage": "preoperative", "clinical": PREOPERATIVE,
                                  "patient": "Doe"}).encode(), "application/json", "body",
     "unknown field(s) 'patient'"),
    ("not UTF-8", b'{"stage": "\xff"}', "application/json", "body", "must be UTF-8"),
])
def test_a_bad_body_is_refused_within_the_json_limits(
        served: Served, listener: FakeListener, case: str, body: bytes, content_type: str,
        field: str, words: str) -> None:
    reply = served.http.put(f"/v1/studies/{UID}/clinical", content=body,
                            headers={"Content-Type": content_type})
    assert reply.status_code == 400, reply.text
    violations = reply.json()["error"]["field_violations"]
    assert any(v["field"] == field and words in v["description"] for v in violations), violations
    assert listener.puts == []


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/studies/1.02.3/clinical", "study_instance_uid"),
    ("/v1/studies/1..2/clinical", "study_instance_uid"),
    (f"/v1/studies/1.{'2' * 63}/clinical", "study_instance_uid"),
    ("/v1/studies/1.2.abc/clinical", "study_instance_uid"),
    (f"/v1/accessions/{'x' * 17}/clinical", "accession_number"),
    ("/v1/accessions/A%5CB/clinical", "accession_number"),
    ("/v1/accessions/A%00B/clinical", "accession_number"),
    ("/v1/accessions/%20%20/clinical", "accession_number"),
    ("/v1/studies/1.02.3", "study_instance_uid"),
    (f"/v1/accessions/{'x' * 17}", "accession_number"),
    ("/v1/accessions/A%0AB", "accession_number"),
    ("/v1/accessions//clinical", "accession_number"),
    ("/v1/studies/1.2%0A/clinical", "study_instance_uid"),
    ("/v1/studies/1.2/3", "study_instance_uid"),
])
def test_a_bad_key_is_refused_at_the_edge(served: Served, listener: FakeListener, path: str,
                                          field: str) -> None:
    if path.endswith("/clinical"):
        reply = _put(served.http, path, {"stage": "preoperative", "clinical": PREOPERATIVE})
    else:
        reply = served.http.get(path)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert _fields(reply) == {field}
    assert listener.puts == [] and listener.gets == []


def test_a_bad_key_and_a_bad_record_are_reported_together(served: Served,
                                                          listener: FakeListener) -> None:
    reply = _put(served.http, "/v1/studies/1.02/clinical",
                 {"stage": "preoperative", "clinical": {**PREOPERATIVE, "age_years": 140}})
    assert reply.status_code == 400
    assert _fields(reply) == {"study_instance_uid", "clinical.age_years"}


def test_a_study_s_status_is_read_from_the_listener(served: Served,
                                                    listener: FakeListener) -> None:
    reply = served.http.get(f"/v1/studies/{UID}")
    assert reply.status_code == 200, reply.text
    assert reply.json() == ASSESSING_JSON
    reply = served.http.get(f"/v1/accessions/{quote(KNOWN_ACCESSION, safe='')}")
    assert reply.status_code == 200 and reply.json() == ASSESSING_JSON
    assert [r.study_instance_uid for r in listener.gets] == [UID, ""]
    assert listener.gets[1].accession_number == KNOWN_ACCESSION


def test_the_listener_s_answers_become_http_codes(served: Served, listener: FakeListener) -> None:
    missing = served.http.get("/v1/studies/1.2.3.4")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert "no such study" in missing.json()["error"]["message"]
    assert served.http.get("/v1/accessions/NOPE").status_code == 404
    listener.refuse = grpc.StatusCode.FAILED_PRECONDITION
    late = _put(served.http, f"/v1/studies/{UID}/clinical",
                {"stage": "preoperative", "clinical": PREOPERATIVE})
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "FAILED_PRECONDITION"
    line = served.last_audit()
    assert (line["status"], line["code"], line["stage"]) == (
        "refused", "FAILED_PRECONDITION", "preoperative")


def test_a_cross_origin_put_is_refused(served: Served, listener: FakeListener) -> None:
    reply = _put(served.http, f"/v1/studies/{UID}/clinical",
                 {"stage": "preoperative", "clinical": PREOPERATIVE},
                 Origin="https://evil.example")
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "PERMISSION_DENIED"
    assert listener.puts == []


def test_the_key_is_in_no_metric_label_and_no_audit_line(served: Served,
                                                         listener: FakeListener) -> None:
    accession = "SECRET-ACC-77"
    assert _put(served.http, f"/v1/studies/{UID}/clinical",
                {"stage": "preoperative", "clinical": PREOPERATIVE}).status_code == 202
    assert _put(served.http, f"/v1/accessions/{accession}/clinical",
                {"stage": "preoperative", "clinical": PREOPERATIVE}).status_code == 202
    served.http.get(f"/v1/studies/{UID}")
    served.http.get(f"/v1/accessions/{accession}")
    served.http.get("/v1/studies/1.02.3")
    metrics = served.http.get("/metrics").text
    assert 'route="/v1/studies/{study_instance_uid}/clinical"' in metrics
    assert 'route="/v1/accessions/{accession_number}"' in metrics
    audit = served.audit.read_text()
    log = Path(served.process.log).read_text()   # type: ignore[arg-type]
    for secret in (UID, accession, "1.02.3", KNOWN_ACCESSION):
        assert secret not in metrics
        assert secret not in audit
        assert secret not in log


def test_readiness_reports_the_listener_without_depending_on_it(served: Served) -> None:
    ready = served.http.get("/readyz")
    assert ready.status_code == 503   # the model services listen nowhere in this module
    assert ready.json()["optional"] == {"listener": "SERVING"}
    assert set(ready.json()["backends"]) == {"segmenter", "classifier", "survival"}


def test_the_openapi_document_describes_the_study_routes(served: Served) -> None:
    spec = served.http.get("/openapi.json").json()
    put = spec["paths"]["/v1/studies/{study_instance_uid}/clinical"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClinicalSubmission"}
    assert put["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StudyStatus"}
    assert {"400", "404", "409", "429", "500", "503"} <= set(put["responses"])
    assert put["parameters"] == [{**put["parameters"][0], "name": "study_instance_uid",
                                  "in": "path", "required": True}]
    assert put["security"] == [{"bearer": ["cervixai.assess"]}]
    get = spec["paths"]["/v1/accessions/{accession_number}"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StudyStatus"}
    assert get["security"] == [{"bearer": ["cervixai.read"]}]
    assert "/v1/accessions/{accession_number}/clinical" in spec["paths"]
    status = spec["components"]["schemas"]["StudyStatus"]
    assert set(status["properties"]) == {f.name for f in studies_pb2.StudyStatus.DESCRIPTOR.fields}
    assert "STUDY_STATE_AWAITING_IMAGES" in status["properties"]["state"]["enum"]
    assert status["properties"]["instances"]["type"] == "string"   # int64
    for operation in (put, get):
        assert "422" not in operation["responses"]


def test_the_served_replies_match_their_schemas(served: Served, listener: FakeListener) -> None:
    import jsonschema

    spec = served.http.get("/openapi.json").json()

    def check(reply: httpx.Response, name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{name}",
                  "components": spec["components"]}
        jsonschema.validate(reply.json(), schema)

    check(served.http.get(f"/v1/studies/{UID}"), "StudyStatus")
    check(_put(served.http, f"/v1/studies/{UID}/clinical",
               {"stage": "preoperative", "clinical": PREOPERATIVE}), "StudyStatus")
    check(served.http.get("/v1/studies/1.02"), "ErrorBody")
    check(served.http.get("/v1/studies/1.2.3.4"), "ErrorBody")


# ------------------------------------------------------------------------- gRPC, served gateway

def test_grpc_put_clinical_is_checked_and_sent_on(served: Served, listener: FakeListener) -> None:
    record = record_to_proto(validate_record(PREOPERATIVE, Stage.PREOPERATIVE))
    reply = served.studies.PutClinical(studies_pb2.PutClinicalRequest(
        study=studies_pb2.StudyRef(accession_number=KNOWN_ACCESSION),
        stage=common_pb2.STAGE_PREOPERATIVE, clinical=record), timeout=10)
    assert reply.state == studies_pb2.STUDY_STATE_AWAITING_IMAGES
    (sent,) = listener.puts
    assert (sent.study.accession_number, sent.stage, sent.clinical) == (
        KNOWN_ACCESSION, common_pb2.STAGE_PREOPERATIVE, record)
    line = served.last_audit()
    assert (line["api"], line["key"], line["code"]) == ("grpc", "accession", "OK")

    bad = studies_pb2.PutClinicalRequest(
        study=studies_pb2.StudyRef(study_instance_uid="1.02"), stage=common_pb2.STAGE_PREOPERATIVE,
        clinical=record_to_proto({**PREOPERATIVE, "age_years": 48}))
    bad.clinical.ClearField("age_years")
    with pytest.raises(grpc.RpcError) as info:
        served.studies.PutClinical(bad, timeout=10)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in violations_from_error(info.value)} == {
        "study.study_instance_uid", "clinical.age_years"}
    with pytest.raises(grpc.RpcError) as info:
        served.studies.PutClinical(studies_pb2.PutClinicalRequest(clinical=record), timeout=10)
    assert {v.field for v in violations_from_error(info.value)} == {"study", "stage"}
    assert len(listener.puts) == 1


def test_grpc_get_study_passes_the_listener_s_codes_on(served: Served,
                                                       listener: FakeListener) -> None:
    assert served.studies.GetStudy(studies_pb2.StudyRef(study_instance_uid=UID),
                                   timeout=10) == ASSESSING
    for ref, code in [(studies_pb2.StudyRef(study_instance_uid="1.2.3.4"),
                       grpc.StatusCode.NOT_FOUND),
                      (studies_pb2.StudyRef(study_instance_uid="1.2.03"),
                       grpc.StatusCode.INVALID_ARGUMENT),
                      (studies_pb2.StudyRef(), grpc.StatusCode.INVALID_ARGUMENT)]:
        with pytest.raises(grpc.RpcError) as info:
            served.studies.GetStudy(ref, timeout=10)
        assert info.value.code() is code, ref
    assert len(listener.gets) == 2
    listener.refuse = grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as info:
        served.studies.PutClinical(studies_pb2.PutClinicalRequest(
            study=studies_pb2.StudyRef(study_instance_uid=UID),
            stage=common_pb2.STAGE_PREOPERATIVE,
            clinical=record_to_proto(validate_record(PREOPERATIVE, Stage.PREOPERATIVE))),
            timeout=10)
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == "the assessment has started"


def test_the_gateway_reports_health_for_studies(served: Served) -> None:
    reply = health_pb2_grpc.HealthStub(served.channel).Check(
        health_pb2.HealthCheckRequest(service="cervix.v1.Studies"), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# ---------------------------------------------------------------- no listener, a stopped one

def test_without_a_listener_the_study_routes_say_so(tmp_path: Path) -> None:
    served = Served(tmp_path, None)
    try:
        for reply in (served.http.get(f"/v1/studies/{UID}"),
                      _put(served.http, f"/v1/studies/{UID}/clinical",
                           {"stage": "preoperative", "clinical": PREOPERATIVE}),
                      served.http.post("/dicom-web/studies", content=b"--b--\r\n", headers={
                          "Content-Type": 'multipart/related; type="application/dicom"; '
                                          'boundary=b'})):
            assert reply.status_code == 503
            error = reply.json()["error"]
            assert error["code"] == "NOT_CONFIGURED" and error["backend"] == "listener"
            assert "no DICOM listener is configured" in error["message"]
            assert "CERVIXAI_LISTENER_ADDRESS" in error["message"]
        # the edge still checks first
        assert served.http.get("/v1/studies/1.02").status_code == 400
        with pytest.raises(grpc.RpcError) as info:
            served.studies.GetStudy(studies_pb2.StudyRef(study_instance_uid=UID), timeout=10)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "CERVIXAI_LISTENER_ADDRESS" in info.value.details()
        assert "optional" not in served.http.get("/readyz").json()
        assert served.last_audit()["code"] == "UNAVAILABLE"
    finally:
        served.close()


def test_a_stopped_listener_fails_fast_and_does_not_touch_readiness(
        tmp_path: Path, fake_models: Any) -> None:
    listener = FakeListener()
    models = fake_models.address
    served = Served(tmp_path, listener, CERVIXAI_SEGMENTER_ADDRESS=models,
                    CERVIXAI_CLASSIFIER_ADDRESS=models, CERVIXAI_SURVIVAL_ADDRESS=models)
    try:
        assert served.http.get(f"/v1/studies/{UID}").status_code == 200
        assert served.http.get("/readyz").json() == {
            "status": "ready", "optional": {"listener": "SERVING"},
            "backends": {"segmenter": "SERVING", "classifier": "SERVING",
                         "survival": "SERVING"}}
        listener.stop()
        for _ in range(3):   # the first finds it gone, the next ones fail fast
            started = time.monotonic()
            reply = served.http.get(f"/v1/studies/{UID}")
            assert time.monotonic() - started < 2.0
            assert reply.status_code == 503
            error = reply.json()["error"]
            assert (error["code"], error["backend"]) == ("UNAVAILABLE", "listener")
            assert "listener" in error["message"]
        started = time.monotonic()
        put = _put(served.http, f"/v1/studies/{UID}/clinical",
                   {"stage": "preoperative", "clinical": PREOPERATIVE})
        assert put.status_code == 503 and time.monotonic() - started < 2.0
        assert served.last_audit()["status"] == "unavailable"
        with pytest.raises(grpc.RpcError) as info:
            served.studies.GetStudy(studies_pb2.StudyRef(study_instance_uid=UID), timeout=10)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "listener" in info.value.details()
        ready = served.http.get("/readyz")
        assert ready.status_code == 200, ready.text   # assessments do not need the listener
        assert ready.json()["optional"]["listener"] != "SERVING"
    finally:
        served.close()


# ------------------------------------------------------------------ authorization, in-process

ISSUER = "https://idp.test/realms/hospital"
AUDIENCE = "cervixai-gateway"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(scope: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "his-1", "iat": now,
                       "exp": now + 300, "scope": scope}, KEY, algorithm="RS256",
                      headers={"kid": "k1"})


@pytest.fixture
def authorized() -> Iterator[tuple[TestClient, studies_pb2_grpc.StudiesStub, FakeListener]]:
    """The gateway's app and gRPC server in-process, with bearer tokens of :data:`KEY`, in
    front of a fake listener."""
    listener = FakeListener()
    public = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1",
              "use": "sig"}
    auth = AuthConfig(mode="jwt", issuer=ISSUER, audience=AUDIENCE,
                      jwks_url="https://idp.test/certs")
    authenticator = Authenticator(auth, KeySet(auth, fetch=lambda: {"keys": [public]}))
    gateway = Gateway(GatewayConfig.from_env({"CERVIXAI_LISTENER_ADDRESS": listener.address}))
    server = create_server(ServerConfig(port=0), "gateway",
                           [(studies_pb2_grpc.add_StudiesServicer_to_server,
                             StudiesServicer(gateway))], ["cervix.v1.Studies"],
                           extra_interceptors=[GrpcAuthorization(authenticator)])
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    with TestClient(create_app(gateway, authenticator)) as client:
        yield client, studies_pb2_grpc.StudiesStub(channel), listener
    channel.close()
    server.stop(0)
    gateway.close()
    listener.stop()


def test_the_study_routes_need_their_scopes(authorized: Any) -> None:
    client, _, listener = authorized
    body = {"stage": "preoperative", "clinical": PREOPERATIVE}

    def put(scope: str | None) -> Any:
        headers = {"Authorization": f"Bearer {_token(scope)}"} if scope else {}
        return client.put(f"/v1/studies/{UID}/clinical", json=body, headers=headers)

    def get(scope: str | None) -> Any:
        headers = {"Authorization": f"Bearer {_token(scope)}"} if scope else {}
        return client.get(f"/v1/studies/{UID}", headers=headers)

    assert put(None).status_code == 401 and get(None).status_code == 401
    refused = put("cervixai.read")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "PERMISSION_DENIED"
    assert 'scope="cervixai.assess"' in refused.headers["www-authenticate"]
    refused = get("cervixai.assess")
    assert refused.status_code == 403
    assert 'scope="cervixai.read"' in refused.headers["www-authenticate"]
    assert listener.puts == [] and listener.gets == []
    assert put("cervixai.assess").status_code == 202
    assert get("cervixai.read").status_code == 200
    assert len(listener.puts) == 1 and len(listener.gets) == 1


def test_the_grpc_studies_need_their_scopes(authorized: Any) -> None:
    _, stub, listener = authorized
    put = studies_pb2.PutClinicalRequest(
        study=studies_pb2.StudyRef(study_instance_uid=UID), stage=common_pb2.STAGE_PREOPERATIVE,
        clinical=record_to_proto(validate_record(PREOPERATIVE, Stage.PREOPERATIVE)))
    ref = studies_pb2.StudyRef(study_instance_uid=UID)
    for call, request, scope, code in [
            (stub.PutClinical, put, None, grpc.StatusCode.UNAUTHENTICATED),
            (stub.PutClinical, put, "cervixai.read", grpc.StatusCode.PERMISSION_DENIED),
            (stub.GetStudy, ref, "cervixai.assess", grpc.StatusCode.PERMISSION_DENIED)]:
        metadata = (("authorization", f"Bearer {_token(scope)}"),) if scope else ()
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=10, metadata=metadata)
        assert info.value.code() is code
    assert listener.puts == [] and listener.gets == []
    stub.PutClinical(put, timeout=10, metadata=(("authorization",
                                                 f"Bearer {_token('cervixai.assess')}"),))
    assert stub.GetStudy(ref, timeout=10, metadata=(
        ("authorization", f"Bearer {_token('cervixai.read')}"),)) == ASSESSING
