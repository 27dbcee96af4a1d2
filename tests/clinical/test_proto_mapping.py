"""ClinicalRecord message ↔ schema record, and errors carried as field violations."""

from __future__ import annotations

import pytest

from cervix.v1 import clinical_pb2
from cervixai.clinical import Stage, validate_record
from cervixai.clinical.proto import record_from_proto, record_to_proto
from cervixai.errors import InvalidInput


def test_round_trip(postoperative) -> None:
    record = validate_record(postoperative, Stage.POSTOPERATIVE)
    message = record_to_proto(record)
    assert message.figo_stage == clinical_pb2.FIGO_STAGE_IB1
    assert message.ki67_index == clinical_pb2.KI67_INDEX_40_60
    assert message.HasField("tumor_size_cm")
    assert record_from_proto(message, Stage.POSTOPERATIVE) == record
    again = clinical_pb2.ClinicalRecord.FromString(message.SerializeToString())
    assert record_from_proto(again, Stage.POSTOPERATIVE) == record


def test_zero_is_a_value_not_absence() -> None:
    message = clinical_pb2.ClinicalRecord(age_years=48, scca_ng_ml=0.0, hpv_status=4,
                                          comorbidity=1, leep_history=1)
    assert record_from_proto(message, Stage.PREOPERATIVE)["scca_ng_ml"] == 0.0
    message.ClearField("scca_ng_ml")
    with pytest.raises(InvalidInput, match=r"clinical\.scca_ng_ml: required"):
        record_from_proto(message, Stage.PREOPERATIVE)


def test_unknown_enum_number_from_a_newer_client_is_reported() -> None:
    message = clinical_pb2.ClinicalRecord(age_years=48, scca_ng_ml=1.0, comorbidity=1,
                                          leep_history=1)
    message.hpv_status = 42  # proto3 enums are open: the number survives parsing
    with pytest.raises(InvalidInput) as info:
        record_from_proto(message, Stage.PREOPERATIVE)
    assert [(v.field, v.description) for v in info.value.violations] == [
        ("clinical.hpv_status", "unknown HpvStatus value 42")]


def test_out_of_range_value_in_message() -> None:
    message = clinical_pb2.ClinicalRecord(age_years=9, scca_ng_ml=1.0, comorbidity=1,
                                          leep_history=1, hpv_status=1)
    with pytest.raises(InvalidInput, match="9 years is outside"):
        record_from_proto(message, Stage.PREOPERATIVE)
