"""The declarative schema agrees with the ClinicalRecord message and with the study's Table 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor

from cervix.v1 import clinical_pb2
from cervixai.clinical.schema import (
    OUTCOME_VARIABLES,
    VARIABLES,
    Kind,
    Stage,
    enum_value_name,
    variables_for,
)

FIELDS = clinical_pb2.ClinicalRecord.DESCRIPTOR.fields_by_name
TABLE1 = Path(__file__).resolve().parents[3] / "shared" / "paper_table1.json"


@pytest.mark.parametrize("var", VARIABLES, ids=lambda v: v.name)
def test_each_variable_has_a_matching_proto_field(var) -> None:
    field = FIELDS[var.name]
    if var.kind is Kind.CONTINUOUS:
        assert field.type == FieldDescriptor.TYPE_DOUBLE
        assert field.has_presence, f"{var.name} must be `optional` to tell 0 from not given"
    else:
        assert field.enum_type is not None and field.enum_type.name == var.proto_enum
        proto_values = {v.name for v in field.enum_type.values if v.number != 0}
        assert proto_values == {enum_value_name(var, lvl) for lvl in var.levels}


def test_every_proto_field_is_in_the_schema() -> None:
    assert set(FIELDS) == {v.name for v in VARIABLES}


def test_outcome_levels_match_outcomes_message() -> None:
    fields = clinical_pb2.Outcomes.DESCRIPTOR.fields_by_name
    for var in OUTCOME_VARIABLES:
        assert var.name in fields
        if var.kind is Kind.CATEGORICAL:
            values = {v.name for v in fields[var.name].enum_type.values if v.number}
            assert values == {enum_value_name(var, lvl) for lvl in var.levels}


def test_stage_variable_counts_match_the_study() -> None:
    assert [v.name for v in variables_for(Stage.PREOPERATIVE)] == [
        "age_years", "comorbidity", "hpv_status", "scca_ng_ml", "leep_history"]
    assert len(variables_for(Stage.POSTOPERATIVE)) == 21


# Table 1 names → schema names, where they differ.
RENAMES = {"hpv": "hpv_status", "ki67": "ki67_index", "tumor_size_cm": None,
           "rfs_months": "rfs_months", "os_months": "os_months"}


@pytest.mark.skipif(not TABLE1.exists(), reason="shared/paper_table1.json not beside the repo")
def test_schema_covers_every_table1_variable() -> None:
    table = json.loads(TABLE1.read_text())
    known = {v.name: v for v in (*VARIABLES, *OUTCOME_VARIABLES)}
    for section in ("continuous", "categorical"):
        for name, spec in table[section].items():
            ours = RENAMES.get(name, name)
            if name == "tumor_size_cm":  # binned in the table, continuous in the record
                assert known["tumor_size_cm"].kind is Kind.CONTINUOUS
                continue
            assert ours in known, f"Table 1 variable {name} is missing from the schema"
            if section == "categorical":
                levels = {k.lower().replace("-", "_").rstrip("%") for k in spec}
                assert levels == set(known[ours].levels), name
