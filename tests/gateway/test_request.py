"""The API edge's one parse (stage, clinical record, upload shape → AssessmentRequest or every
problem at once), the renaming of ingestion's field names, and how a backend's INVALID_ARGUMENT
is split between the caller and the gateway."""

from __future__ import annotations

import pytest

from cervix.v1 import common_pb2
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from cervixai.dicom import DicomSource
from cervixai.errors import FieldViolation, InvalidInput
from gateway.backends import Backend, InternalError, is_caller_field
from gateway.config import BackendConfig
from gateway.request import (
    GRPC_FIELDS,
    HTTP_FIELDS,
    AssessmentRequest,
    DicomUpload,
    Rejection,
    parse_assessment,
    stage_from_proto,
    stage_from_word,
)

FILE = DicomSource("a.dcm", b"x" * 10)


def test_a_valid_request_becomes_one_typed_value(preoperative) -> None:
    parsed = parse_assessment(stage_from_word(" Preoperative "), preoperative, [FILE], [],
                              HTTP_FIELDS)
    assert isinstance(parsed, AssessmentRequest)
    assert parsed.stage is Stage.PREOPERATIVE
    assert parsed.stage_proto == common_pb2.STAGE_PREOPERATIVE
    assert parsed.record == validate_record(preoperative, Stage.PREOPERATIVE)
    assert parsed.clinical == record_to_proto(parsed.record)
    assert parsed.upload == DicomUpload((FILE,), None, HTTP_FIELDS)
    assert "48" not in repr(parsed)  # the age is a clinical value


def test_the_grpc_record_is_validated_from_its_message(postoperative) -> None:
    message = record_to_proto(validate_record(postoperative, Stage.POSTOPERATIVE))
    parsed = parse_assessment(stage_from_proto(common_pb2.STAGE_POSTOPERATIVE), message, [],
                              [b"zip"], GRPC_FIELDS)
    assert isinstance(parsed, AssessmentRequest)
    assert parsed.upload.archive == b"zip" and parsed.upload.size_bytes == 3
    assert parsed.record == validate_record(postoperative, Stage.POSTOPERATIVE)


@pytest.mark.parametrize(("stage", "clinical", "files", "archives", "fields", "expected"), [
    ("during", {}, [FILE], [], HTTP_FIELDS, {"stage", "clinical.age_years"}),
    ("preoperative", FieldViolation("clinical", "not JSON"), [FILE], [], HTTP_FIELDS,
     {"clinical"}),
    ("preoperative", {"age_years": 140}, [], [], HTTP_FIELDS, {"clinical.age_years", "files"}),
    ("preoperative", None, [FILE], [b"zip"], HTTP_FIELDS, {"files"}),
    ("preoperative", None, [], [b"zip", b"zip"], GRPC_FIELDS, {"dicom_zip"}),
    ("preoperative", None, [], [], GRPC_FIELDS, {"dicom_files"}),
])
def test_every_problem_is_found_at_once(stage, clinical, files, archives, fields, expected,
                                        preoperative) -> None:
    parsed = parse_assessment(stage_from_word(stage),
                              preoperative if clinical is None else clinical, files, archives,
                              fields)
    assert isinstance(parsed, Rejection)
    assert {v.field for v in parsed.violations} >= expected
    # the upload is kept for ingestion only when its shape is right
    assert (parsed.upload is not None) == ("files" not in expected
                                           and not {"dicom_files", "dicom_zip"} & expected)


def test_a_bad_grpc_stage_names_the_value() -> None:
    violation = stage_from_proto(7)
    assert isinstance(violation, FieldViolation)
    assert violation.field == "stage" and "got 7" in violation.description


@pytest.mark.parametrize(("archive", "fields", "ingested", "caller"), [
    (None, HTTP_FIELDS, "dicom_files[3]", "files[3]"),
    (None, HTTP_FIELDS, "dicom_files", "files"),
    (None, GRPC_FIELDS, "dicom_files[3]", "dicom_files[3]"),
    (b"zip", HTTP_FIELDS, "dicom_files[3]", "files"),
    (b"zip", HTTP_FIELDS, "archive", "files"),
    (b"zip", GRPC_FIELDS, "archive", "dicom_zip"),
    (b"zip", GRPC_FIELDS, "dicom_files[0]", "dicom_zip"),
    (None, HTTP_FIELDS, "series", "series"),
])
def test_ingestion_violations_name_the_field_the_caller_sent(archive, fields, ingested,
                                                             caller) -> None:
    upload = DicomUpload(() if archive else (FILE,), archive, fields)
    renamed = upload.caller_field(FieldViolation(ingested, "bad"))
    assert renamed == FieldViolation(caller, "bad")


@pytest.mark.parametrize(("fields", "caller"), [
    (["clinical.age_years", "stage"], True),
    (["clinical"], True),
    (["image_features.radiomics.shape_volume_ml"], False),
    (["clinical.age_years", "image_features"], False),
    (["volume.voxels.shape"], False),
    (["tasks[0]"], False),
    ([], False),
])
def test_a_backend_rejection_is_the_callers_only_for_fields_the_caller_sent(fields,
                                                                            caller) -> None:
    assert caller == (bool(fields) and all(is_caller_field(f) for f in fields))
    backend = Backend(BackendConfig("classifier", "127.0.0.1:1", 1.0), 4 * 1024 * 1024, None)
    try:
        error = backend._rejection([FieldViolation(f, "refused") for f in fields])
    finally:
        backend.close()
    if caller:
        assert isinstance(error, InvalidInput)
        assert [v.field for v in error.violations] == fields
    else:
        assert isinstance(error, InternalError) and error.backend == "classifier"
        assert "clinical" not in str(error)
