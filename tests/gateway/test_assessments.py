"""The gateway as a real process in front of fake model services (tests/gateway/conftest.py):
what it sends the backends, its replies against the schema it serves, and how a backend's
refusal is answered — the caller's 400 for fields the caller sent, INTERNAL for fields the
gateway built."""

from __future__ import annotations

import json

import grpc
import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from cervixai.errors import FieldViolation
from cervixai.service import violations_from_error


def _post(http, stage, record, files, **params):
    return http.post("/v1/assessments", params=params, data={
        "stage": stage, "clinical": json.dumps(record)},
        files=[("files", (name, data, "application/dicom")) for name, data in files])


def _validator(spec: dict, name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", **spec})


def _counter(http, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return sample.value
    return 0.0


@pytest.mark.parametrize("stage", ["preoperative", "postoperative"])
def test_replies_match_the_served_schema(served_gateway, strict_spec, series_files, zip_of, stage,
                                         preoperative, postoperative) -> None:
    _, http, _, fakes = served_gateway
    record = preoperative if stage == "preoperative" else postoperative
    schema = _validator(strict_spec(http), "Assessment")
    for files, params in (([*series_files], {}),
                          ([("study.zip", zip_of(series_files))], {"preview": "true"})):
        reply = _post(http, stage, record, files, **params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        schema.validate(body)
        assert ("preview" in body) == bool(params)
        assert body["series"]["slices"] == "16"  # int64 → a decimal string
        assert body["segmentation"]["measurements"]["largest_slice_index"] == "8"
        assert len(body["survival"]) == (2 if stage == "postoperative" else 0)
        assert "fake classifier" in body["warnings"]
    # the backends got the record validated once at the edge, as its message
    sent = fakes.received["classifier"][-1]
    assert sent.clinical == record_to_proto(validate_record(record, Stage(stage)))
    assert sent.stage == (common_pb2.STAGE_PREOPERATIVE if stage == "preoperative"
                          else common_pb2.STAGE_POSTOPERATIVE)
    assert len(fakes.received["survival"]) == (2 if stage == "postoperative" else 0)


def test_dicom_violations_name_the_fields_the_caller_sent(served_gateway, strict_spec, preoperative,
                                                          zip_of, series_files) -> None:
    process, http, _, fakes = served_gateway
    bad = [series_files[0], ("b.dcm", b"\0" * 300)]
    reply = _post(http, "preoperative", {**preoperative, "age_years": 140}, bad)
    assert reply.status_code == 400
    _validator(strict_spec(http), "ErrorBody").validate(reply.json())
    fields = [v["field"] for v in reply.json()["error"]["field_violations"]]
    assert fields[0] == "clinical.age_years" and "files[1]" in fields
    broken_zip = _post(http, "preoperative", preoperative, [("s.zip", b"PK not a zip")])
    assert [v["field"] for v in broken_zip.json()["error"]["field_violations"]] == ["files"]
    both = _post(http, "preoperative", preoperative, [*series_files[:1], ("s.zip", b"PK")])
    assert [(v["field"], v["description"]) for v in both.json()["error"]["field_violations"]
            ] == [("files", "send DICOM files or one zip, not both")]
    with grpc.insecure_channel(process.address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        clinical = record_to_proto(validate_record(preoperative, Stage.PREOPERATIVE))
        for request, field in (
                (gateway_pb2.AssessRequest(stage=common_pb2.STAGE_PREOPERATIVE, clinical=clinical,
                                           dicom_files=[gateway_pb2.DicomFile(
                                               name=n, data=d) for n, d in bad]),
                 "dicom_files[1]"),
                (gateway_pb2.AssessRequest(stage=common_pb2.STAGE_PREOPERATIVE, clinical=clinical,
                                           dicom_zip=b"PK not a zip"), "dicom_zip")):
            with pytest.raises(grpc.RpcError) as info:
                stub.Assess(request, timeout=30)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert [v.field for v in violations_from_error(info.value)] == [field]
    assert fakes.received["segmenter"] == []


def test_a_refused_clinical_variable_is_the_callers(served_gateway, postoperative,
                                                    series_files) -> None:
    _, http, _, fakes = served_gateway
    fakes.reject["survival"] = [FieldViolation("clinical.ki67_index", "not in this model")]
    reply = _post(http, "postoperative", postoperative, series_files)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["request_id"]
    assert error["field_violations"] == [{"field": "clinical.ki67_index",
                                          "description": "not in this model"}]


def test_a_refused_gateway_built_field_is_internal(served_gateway, strict_spec, preoperative,
                                                   series_files, identity) -> None:
    process, http, audit, fakes = served_gateway
    fakes.reject["classifier"] = [
        FieldViolation("image_features.radiomics.shape_volume_ml", "unknown feature"),
        FieldViolation("clinical.age_years", "must be at most 100, got 48.5")]
    before = _counter(http, "cervixai_gateway_http_requests_total", route="/v1/assessments",
                      code="500")
    reply = _post(http, "preoperative", preoperative, series_files)
    assert reply.status_code == 500
    _validator(strict_spec(http), "ErrorBody").validate(reply.json())
    error = reply.json()["error"]
    assert error["code"] == "INTERNAL" and error["request_id"]
    assert "field_violations" not in error and "image_features" not in error["message"]
    assert _counter(http, "cervixai_gateway_http_requests_total", route="/v1/assessments",
                    code="500") == before + 1
    assert _counter(http, "cervixai_gateway_assessments_total", api="http",
                    stage="preoperative", code="INTERNAL") == 1
    line = json.loads(audit.read_text().splitlines()[-1])
    assert (line["request_id"], line["status"], line["code"]) == (error["request_id"], "error",
                                                                  "INTERNAL")
    with grpc.insecure_channel(process.address) as channel:
        request = gateway_pb2.AssessRequest(
            stage=common_pb2.STAGE_PREOPERATIVE,
            clinical=record_to_proto(validate_record(preoperative, Stage.PREOPERATIVE)),
            dicom_files=[gateway_pb2.DicomFile(name=n, data=d) for n, d in series_files])
        with pytest.raises(grpc.RpcError) as info:
            gateway_pb2_grpc.GatewayStub(channel).Assess(request, timeout=30)
    assert info.value.code() is grpc.StatusCode.INTERNAL
    assert "image_features" not in info.value.details()
    log = process.log.read_text()
    errors = [json.loads(line) for line in log.splitlines()
              if line.startswith("{") and '"ERROR"' in line]
    assert any("classifier rejected what the gateway built" in e["message"]
               and "image_features.radiomics.shape_volume_ml" in e["message"] for e in errors)
    for secret in ("48.5", identity.name, identity.patient_id):
        assert secret not in log


def _local_address(reply) -> object:
    return reply.extensions["network_stream"].get_extra_info("client_addr")


def test_a_refused_volume_is_internal(served_gateway, preoperative, series_files) -> None:
    _, http, audit, fakes = served_gateway
    fakes.reject["segmenter"] = [FieldViolation("volume.voxels.shape", "must be 3-D")]
    before = http.get("/healthz")
    reply = _post(http, "preoperative", preoperative, series_files)
    assert reply.status_code == 500 and reply.json()["error"]["code"] == "INTERNAL"
    assert fakes.received["classifier"] == []
    assert json.loads(audit.read_text().splitlines()[-1])["code"] == "INTERNAL"
    # the 500 is an answer, not a broken connection: the keep-alive connection is reused
    after = http.get("/healthz")
    assert after.status_code == 200 and reply.headers.get("connection") != "close"
    assert _local_address(before) == _local_address(reply) == _local_address(after)
