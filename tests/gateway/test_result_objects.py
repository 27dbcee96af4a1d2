"""Result objects returned by the gateway (DICOM SEG, DICOM SR, FHIR Bundle): asked for in the
request on both APIs, they carry what filing needs — the patient module and study of the source
series, the subject reference — and those identifiers appear nowhere else: not in the
gateway's log, the audit log, /metrics or an error message."""

from __future__ import annotations

import base64
import io
import json
import logging
import traceback
from pathlib import Path

import grpc
import httpx
import jsonschema
import numpy as np
import pydicom
import pytest

from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from cervixai.dicom import DicomSource, load_series
from cervixai.service import violations_from_error
from gateway import pipeline
from gateway.backends import InternalError
from gateway.request import (
    GRPC_FIELDS,
    HTTP_FIELDS,
    AssessmentRequest,
    Rejection,
    parse_assessment,
    results_from_proto,
    results_from_words,
    stage_from_word,
    subject_from,
)

SUBJECT = "Patient/opaque-7731"
ALL_KINDS = "dicom-seg,dicom-sr,fhir"


@pytest.fixture
def gateway(start_service, gateway_env, fake_models):
    """A gateway in front of the fake model services, logging at DEBUG (so that every line it
    could write is searched): (process, HTTP client, audit log path)."""
    env = {**gateway_env, "CERVIXAI_LOG_LEVEL": "DEBUG",
           "CERVIXAI_SEGMENTER_ADDRESS": fake_models.address,
           "CERVIXAI_CLASSIFIER_ADDRESS": fake_models.address,
           "CERVIXAI_SURVIVAL_ADDRESS": fake_models.address}
    process = start_service("gateway", prefix="CERVIXAI_GATEWAY", env=env)
    http = httpx.Client(base_url=process.wait_http(int(env["CERVIXAI_GATEWAY_HTTP_PORT"])),
                        timeout=60)
    yield process, http, Path(env["CERVIXAI_GATEWAY_AUDIT_LOG"])
    http.close()


def _post(http, stage, record, files, **fields):
    return http.post("/v1/assessments", data={"stage": stage, "clinical": json.dumps(record),
                                              **fields},
                     files=[("files", (name, data, "application/dicom")) for name, data in files])


def _decoded(objects: list[tuple[str, str, str, bytes]]) -> dict[str, object]:
    """(kind, media type, file name, content) → the kind's decoded object."""
    out: dict[str, object] = {}
    for kind, media_type, filename, content in objects:
        if kind == "RESULT_KIND_FHIR":
            assert (media_type, filename) == ("application/fhir+json", "bundle.json")
            out[kind] = json.loads(content)
        else:
            assert media_type == "application/dicom"
            assert filename == {"RESULT_KIND_DICOM_SEG": "segmentation.dcm",
                                "RESULT_KIND_DICOM_SR": "report.dcm"}[kind]
            out[kind] = pydicom.dcmread(io.BytesIO(content))
    return out


def _assert_filed_with_the_source(objects: dict[str, object], source: pydicom.Dataset,
                                  identity, subject: str) -> None:
    assert list(objects) == ["RESULT_KIND_DICOM_SEG", "RESULT_KIND_DICOM_SR", "RESULT_KIND_FHIR"]
    seg, sr = objects["RESULT_KIND_DICOM_SEG"], objects["RESULT_KIND_DICOM_SR"]
    for ds, modality in ((seg, "SEG"), (sr, "SR")):
        assert ds.Modality == modality
        assert (str(ds.PatientName), ds.PatientID) == (identity.name, identity.patient_id)
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
    # the SR references the SEG returned beside it
    assert seg.SOPInstanceUID in str(sr)
    bundle = objects["RESULT_KIND_FHIR"]
    assert bundle["resourceType"] == "Bundle"
    subjects = {json.dumps(e["resource"]["subject"]) for e in bundle["entry"]
                if "subject" in e["resource"]}
    assert subjects == {json.dumps({"reference": subject})}


def test_the_objects_carry_the_identity_and_nothing_else_does(gateway, strict_spec, series_files,
                                                              postoperative, identity) -> None:
    process, http, audit = gateway
    source = pydicom.dcmread(io.BytesIO(series_files[0][1]))
    reply = _post(http, "postoperative", postoperative, series_files, results=ALL_KINDS,
                  subject=SUBJECT)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    spec = strict_spec(http)
    jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Assessment", **spec}
                                    ).validate(body)
    assert "results" in {t["stage"] for t in body["timings"]}
    _assert_filed_with_the_source(_decoded([
        (o["kind"], o["media_type"], o["filename"], base64.b64decode(o["content"]))
        for o in body["result_objects"]]), source, identity, SUBJECT)

    # the same over gRPC, unary and streamed (kinds given out of order and twice)
    clinical = record_to_proto(validate_record(postoperative, Stage.POSTOPERATIVE))
    kinds = [gateway_pb2.RESULT_KIND_FHIR, gateway_pb2.RESULT_KIND_DICOM_SEG,
             gateway_pb2.RESULT_KIND_DICOM_SR, gateway_pb2.RESULT_KIND_FHIR]
    with grpc.insecure_channel(process.address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        unary = stub.Assess(gateway_pb2.AssessRequest(
            stage=common_pb2.STAGE_POSTOPERATIVE, clinical=clinical,
            dicom_files=[gateway_pb2.DicomFile(name=n, data=d) for n, d in series_files],
            results=kinds, subject_reference=SUBJECT), timeout=60)
        streamed = stub.AssessStream(iter([
            gateway_pb2.AssessChunk(header=gateway_pb2.AssessHeader(
                stage=common_pb2.STAGE_POSTOPERATIVE, clinical=clinical, results=kinds,
                subject_reference=SUBJECT)),
            *(gateway_pb2.AssessChunk(file_chunk=gateway_pb2.DicomFileChunk(name=n, data=d))
              for n, d in series_files)]), timeout=60)
    for answer in (unary, streamed):
        _assert_filed_with_the_source(_decoded([
            (gateway_pb2.ResultKind.Name(o.kind), o.media_type, o.filename, o.content)
            for o in answer.result_objects]), source, identity, SUBJECT)

    # a rejected request that carries the subject: the error names fields, never the value
    bad = _post(http, "postoperative", postoperative, series_files,
                results="dicom-seg,pdf", subject=f"{SUBJECT}\n")
    assert bad.status_code == 400
    errors = bad.text

    secrets = {"patient name": identity.name, "family name": identity.name.split("^")[0],
               "patient id": identity.patient_id, "birth date": identity.birth_date,
               "accession number": identity.accession_number,
               "institution": identity.institution_name, "subject": SUBJECT,
               "study uid": source.StudyInstanceUID, "series uid": source.SeriesInstanceUID,
               "instance uid": source.SOPInstanceUID}
    for where, text in (("gateway log", process.log.read_text()),
                        ("audit log", audit.read_text()),
                        ("/metrics", http.get("/metrics").text),
                        ("error body", errors)):
        assert text, where
        found = [name for name, value in secrets.items() if value in text]
        assert found == [], f"{where} holds the {', '.join(found)}"
    # the audit line says which objects went out
    last = json.loads(audit.read_text().splitlines()[-2])
    assert last["results"] == ["RESULT_KIND_DICOM_SEG", "RESULT_KIND_DICOM_SR",
                               "RESULT_KIND_FHIR"]


def test_unknown_kinds_and_bad_subjects_are_the_callers(gateway, series_files,
                                                        preoperative) -> None:
    process, http, _ = gateway
    reply = _post(http, "preoperative", preoperative, series_files, results="dicom-seg,pdf")
    assert reply.status_code == 400
    assert [(v["field"], "'pdf'" in v["description"])
            for v in reply.json()["error"]["field_violations"]] == [("results", True)]
    too_long = _post(http, "preoperative", preoperative, series_files, results="fhir",
                     subject="Patient/" + "7" * 2000)
    assert [v["field"] for v in too_long.json()["error"]["field_violations"]] == ["subject"]
    assert "7777" not in too_long.text
    none_asked = _post(http, "preoperative", preoperative, series_files)
    assert none_asked.status_code == 200
    assert none_asked.json()["result_objects"] == []
    assert "results" not in {t["stage"] for t in none_asked.json()["timings"]}
    with grpc.insecure_channel(process.address) as channel:
        request = gateway_pb2.AssessRequest(
            stage=common_pb2.STAGE_PREOPERATIVE,
            clinical=record_to_proto(validate_record(preoperative, Stage.PREOPERATIVE)),
            dicom_files=[gateway_pb2.DicomFile(name=n, data=d) for n, d in series_files],
            results=[gateway_pb2.RESULT_KIND_UNSPECIFIED], subject_reference="Patient/\x00")
        with pytest.raises(grpc.RpcError) as info:
            gateway_pb2_grpc.GatewayStub(channel).Assess(request, timeout=30)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in violations_from_error(info.value)] == ["results",
                                                                     "subject_reference"]


@pytest.mark.parametrize(("words", "expected"), [
    (["dicom-seg,dicom-sr,fhir"], ("dicom-seg", "dicom-sr", "fhir")),
    (["fhir", "DICOM-SEG"], ("dicom-seg", "fhir")),
    (["fhir, dicom-sr", "fhir"], ("dicom-sr", "fhir")),
    ([""], ()),
    ([], ()),
])
def test_the_forms_kinds_in_one_order(words, expected) -> None:
    assert results_from_words(words) == expected


def test_the_request_keeps_kinds_and_subject_but_its_repr_not_the_subject(
        preoperative) -> None:
    parsed = parse_assessment(stage_from_word("preoperative"), preoperative,
                              [DicomSource("a.dcm", b"x")], [], HTTP_FIELDS,
                              results_from_words(["fhir,dicom-seg"]),
                              subject_from(SUBJECT, "subject"))
    assert isinstance(parsed, AssessmentRequest)
    assert (parsed.results, parsed.subject) == (("dicom-seg", "fhir"), SUBJECT)
    assert SUBJECT not in repr(parsed) and "opaque" not in repr(parsed)
    rejected = parse_assessment(stage_from_word("preoperative"), preoperative,
                                [DicomSource("a.dcm", b"x")], [], GRPC_FIELDS,
                                results_from_proto([gateway_pb2.RESULT_KIND_FHIR, 9]),
                                subject_from("x" * 1025, "subject_reference"))
    assert isinstance(rejected, Rejection)
    assert [v.field for v in rejected.violations] == ["results", "subject_reference"]
    assert rejected.upload is not None  # its DICOM is still read for the same answer


def test_an_object_that_cannot_be_built_is_internal_and_logged_without_identifiers(
        monkeypatch, caplog, series_files, preoperative) -> None:
    series = load_series([DicomSource(n, d) for n, d in series_files])
    uid = series.source.datasets[0].StudyInstanceUID

    def refuse(*args, **kwargs):
        raise ValueError(f"highdicom refuses: study {uid} of {SUBJECT}")

    monkeypatch.setattr(pipeline, "build_results", refuse)
    request = parse_assessment(stage_from_word("preoperative"), preoperative,
                               [DicomSource("a.dcm", b"x")], [], HTTP_FIELDS,
                               (("dicom-seg", "dicom-sr")), SUBJECT)
    assert isinstance(request, AssessmentRequest)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InternalError) as info:
        pipeline._result_objects(request, series, np.zeros(series.volume.shape, bool),
                                 gateway_pb2.AssessResponse())
    assert info.value.backend == "results"
    # what the APIs log (the traceback of the error) and what they say hold neither
    logged = caplog.text + "".join(traceback.format_exception(info.value))
    assert "dicom-seg, dicom-sr" in caplog.text and "ValueError" in caplog.text
    for secret in (uid, SUBJECT):
        assert secret not in logged and secret not in str(info.value)
