"""The gateway as a real process with its backends down: validation of every input problem at
once, fast failures that name the backend, health, readiness, metrics, OpenAPI, audit log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.service import violations_from_error


@pytest.fixture
def gateway(start_service, gateway_env, gateway_client):
    process = start_service("gateway", prefix="CERVIXAI_GATEWAY", env=gateway_env)
    http = gateway_client(gateway_env, timeout=30)
    yield process, http, Path(gateway_env["CERVIXAI_GATEWAY_AUDIT_LOG"])
    http.close()


def _post(http, stage, record, files, **params):
    return http.post("/v1/assessments", params=params, data={
        "stage": stage, "clinical": json.dumps(record)},
        files=[("files", (name, data, "application/dicom")) for name, data in files])


def test_health_readiness_metrics_openapi_and_page(gateway) -> None:
    _, http, _ = gateway
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 503
    assert set(ready.json()["backends"]) == {"segmenter", "classifier", "survival"}
    assert ready.json()["backends"]["segmenter"] == "UNAVAILABLE"
    names = {f.name for f in text_string_to_metric_families(http.get("/metrics").text)}
    assert {"cervixai_gateway_http_requests", "cervixai_gateway_stage_duration_seconds",
            "cervixai_gateway_backend_errors", "cervixai_gateway_in_flight_assessments"} <= names
    spec = http.get("/openapi.json").json()
    assert "multipart/form-data" in spec["paths"]["/v1/assessments"]["post"]["requestBody"][
        "content"]
    page = http.get("/")
    assert page.status_code == 200 and "<form id=\"assessment\"" in page.text
    schema = http.get("/v1/schema").json()
    assert any(v["name"] == "age_years" and v["maximum"] == 100 for v in schema["variables"])
    http.get("/docs")
    http.get("/static/app.js")
    http.get("/no/such/page")
    samples = [s for f in text_string_to_metric_families(http.get("/metrics").text)
               for s in f.samples]
    routes = {s.labels["route"] for s in samples
              if s.name == "cervixai_gateway_http_requests_total"}
    # every route by its template; only what matches no route is "unmatched"
    assert {"/healthz", "/readyz", "/openapi.json", "/docs", "/static", "/v1/schema",
            "unmatched"} <= routes
    timed = {s.labels["route"] for s in samples
             if s.name == "cervixai_gateway_http_request_duration_seconds_count"}
    assert {"/healthz", "/openapi.json", "/v1/schema"} <= timed


def test_every_input_problem_is_reported_at_once(gateway, preoperative) -> None:
    _, http, _ = gateway
    record = {**preoperative, "age_years": 140, "hpv_status": "maybe"}
    reply = _post(http, "preoperative", record, [("a.dcm", b"not dicom at all")])
    assert reply.status_code == 400
    fields = {v["field"] for v in reply.json()["error"]["field_violations"]}
    assert {"clinical.age_years", "clinical.hpv_status"} <= fields
    bad_stage = _post(http, "during", preoperative, [("a.dcm", b"x")])
    assert bad_stage.status_code == 400
    assert bad_stage.json()["error"]["field_violations"][0]["field"] == "stage"
    no_dicom = _post(http, "preoperative", preoperative, [("a.dcm", b"\\x00" * 300)])
    assert no_dicom.status_code == 400
    assert no_dicom.json()["error"]["field_violations"][0]["field"] == "files[0]"


def test_a_down_backend_fails_fast_naming_it(gateway, preoperative, series_files,
                                             identity) -> None:
    _, http, audit = gateway
    started = time.monotonic()
    reply = _post(http, "preoperative", preoperative, series_files)
    assert time.monotonic() - started < 5
    assert reply.status_code == 503
    error = reply.json()["error"]
    assert error["backend"] == "segmenter" and "segmenter unavailable" in error["message"]
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert lines[-1]["status"] == "unavailable" and lines[-1]["request_id"] == error["request_id"]
    text = audit.read_text()
    for secret in (identity.name, identity.patient_id, identity.birth_date, "slice-000.dcm"):
        assert secret not in text


def test_grpc_api_validates_and_fails_fast(gateway, preoperative, series_files,
                                           zip_of) -> None:
    process, _, _ = gateway
    with grpc.insecure_channel(process.address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        request = gateway_pb2.AssessRequest(stage=common_pb2.STAGE_PREOPERATIVE,
                                            dicom_zip=zip_of(series_files))
        with pytest.raises(grpc.RpcError) as info:
            stub.Assess(request, timeout=10)  # empty clinical record
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        fields = {v.field for v in violations_from_error(info.value)}
        assert "clinical.age_years" in fields
        from cervixai.clinical import Stage, validate_record

        request.clinical.CopyFrom(record_to_proto(validate_record(preoperative,
                                                                  Stage.PREOPERATIVE)))
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Assess(request, timeout=10)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "segmenter" in info.value.details()
        assert time.monotonic() - started < 5


def test_upload_over_the_limit_is_refused(start_service, gateway_env, preoperative,
                                          series_files) -> None:
    env = {**gateway_env, "CERVIXAI_GATEWAY_MAX_UPLOAD_BYTES": "100000"}
    gateway = start_service("gateway", prefix="CERVIXAI_GATEWAY", env=env)
    http = httpx.Client(base_url=gateway.wait_http(int(env["CERVIXAI_GATEWAY_HTTP_PORT"])),
                        timeout=30)
    reply = _post(http, "preoperative", preoperative, series_files)
    assert reply.status_code == 413
    assert "exceeds the limit of 0.1 MB" in reply.json()["error"]["message"]


def test_a_chunked_upload_is_refused_as_it_passes_the_limit(start_service, gateway_env,
                                                            gateway_client) -> None:
    """No Content-Length: the limit counts the bytes as they arrive, and the 413 comes while
    the client is still sending, long before 200 MB would have been spooled."""
    import select
    import socket

    env = {**gateway_env, "CERVIXAI_GATEWAY_MAX_UPLOAD_BYTES": "2000000"}
    start_service("gateway", prefix="CERVIXAI_GATEWAY", env=env)
    gateway_client(env, timeout=30).close()
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"stage\"\r\n\r\n"
            f"preoperative\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"big.dcm\"\r\nContent-Type: application/dicom\r\n\r\n").encode()
    sent, reply = 0, b""
    with socket.create_connection(("127.0.0.1", int(env["CERVIXAI_GATEWAY_HTTP_PORT"]))) as s:
        s.sendall((f"POST /v1/assessments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode())
        chunk = head + b"\0" * (256 * 1024)
        try:
            while sent < 200_000_000 and not reply:
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                chunk = b"\0" * (256 * 1024)
                if select.select([s], [], [], 0)[0]:
                    reply = s.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            more = s.recv(65536)
            if not more:
                break
            reply += more
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"exceeds the limit of 2 MB" in reply
    assert sent < 20_000_000
