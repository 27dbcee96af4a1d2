"""Validation reports every problem of a record at once, one violation per problem."""

from __future__ import annotations

import math

import pytest

from cervixai.clinical import Stage, validate_record
from cervixai.errors import InvalidInput


def _violations(raw: dict[str, object], stage: Stage) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        validate_record(raw, stage)
    return {v.field: v.description for v in info.value.violations}


def test_valid_records_are_normalised(preoperative, postoperative) -> None:
    pre = validate_record(preoperative, Stage.PREOPERATIVE)
    assert pre["age_years"] == 48.0 and pre["hpv_status"] == "hpv16_18"
    assert pre["figo_stage"] is None  # not given, not needed before surgery
    post = validate_record(postoperative, Stage.POSTOPERATIVE)
    assert post["figo_stage"] == "ib1"  # levels are case-insensitive
    assert len(post) == 23


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("age_years", 140, r"140 years is outside the plausible range 15 to 100 years"),
        ("age_years", -3, r"outside the plausible range"),
        ("scca_ng_ml", "abc", r"must be a number in ng/mL, got 'abc'"),
        ("scca_ng_ml", math.nan, r"must be a finite number"),
        ("scca_ng_ml", math.inf, r"must be a finite number"),
        ("age_years", True, r"must be a number in years, got bool"),
        ("age_years", [48], r"must be a number in years, got list"),
        ("hpv_status", "maybe", r"'maybe' is not a level of hpv_status; expected one of hpv16_18"),
        ("comorbidity", 3, r"must be one of no, yes; got int"),
    ],
)
def test_bad_values(preoperative, field, value, message) -> None:
    raw = {**preoperative, field: value}
    found = _violations(raw, Stage.PREOPERATIVE)
    assert list(found) == [f"clinical.{field}"]
    assert __import__("re").search(message, found[f"clinical.{field}"])


def test_unknown_variable_suggests_the_close_name(preoperative) -> None:
    found = _violations({**preoperative, "comorbidty": "no"}, Stage.PREOPERATIVE)
    assert found == {"clinical.comorbidty": "unknown variable; did you mean 'comorbidity'?"}


def test_missing_required_variables_depend_on_stage(preoperative) -> None:
    raw = dict(preoperative)
    del raw["scca_ng_ml"]
    assert set(_violations(raw, Stage.PREOPERATIVE)) == {"clinical.scca_ng_ml"}
    post = _violations(preoperative, Stage.POSTOPERATIVE)
    # every postoperative variable without an unknown level, except the optional tumour size
    assert set(post) == {f"clinical.{n}" for n in (
        "figo_stage", "surgery_approach", "operative_time_min", "blood_loss_ml", "transfusion",
        "adjuvant_therapy", "histology", "stromal_invasion_depth", "lvsi", "margin_involved",
        "parametrial_involvement", "lymph_node_metastasis")}
    assert "required for a postoperative assessment" in post["clinical.lvsi"]


def test_variables_with_an_unknown_level_default_to_unknown(postoperative) -> None:
    raw = {k: v for k, v in postoperative.items() if k not in ("p53", "tumor_size_cm")}
    record = validate_record(raw, Stage.POSTOPERATIVE)
    assert record["p53"] == "unknown"
    assert record["tumor_size_cm"] is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"histology": "adenocarcinoma", "keratinization": "yes"}, "clinical.keratinization",
         "graded for squamous carcinoma only"),
        ({"histology": "squamous", "keratinization": "non_squamous"}, "clinical.keratinization",
         "contradicts histology 'squamous'"),
        ({"figo_stage": "ia1", "tumor_size_cm": 6.0}, "clinical.tumor_size_cm",
         "contradicts FIGO stage IA1"),
    ],
)
def test_contradictions(postoperative, changes, field, message) -> None:
    found = _violations({**postoperative, **changes}, Stage.POSTOPERATIVE)
    assert list(found) == [field]
    assert message in found[field]


def test_all_problems_are_reported_together(preoperative) -> None:
    raw = {**preoperative, "age_years": 200, "hpv_status": "x", "extra": 1}
    del raw["leep_history"]
    found = _violations(raw, Stage.PREOPERATIVE)
    assert set(found) == {"clinical.age_years", "clinical.hpv_status", "clinical.extra",
                          "clinical.leep_history"}


@pytest.mark.parametrize(("given", "level"), [(True, "yes"), ("Y", "yes"), ("false", "no"),
                                              ("0", "no"), (" YES ", "yes")])
def test_yes_no_spellings(preoperative, given, level) -> None:
    record = validate_record({**preoperative, "comorbidity": given}, Stage.PREOPERATIVE)
    assert record["comorbidity"] == level


def test_numeric_strings_from_csv_are_accepted(preoperative) -> None:
    record = validate_record({**preoperative, "age_years": " 51.5"}, Stage.PREOPERATIVE)
    assert record["age_years"] == 51.5
    found = _violations({**preoperative, "scca_ng_ml": ""}, Stage.PREOPERATIVE)
    assert "required" in found["clinical.scca_ng_ml"]


@pytest.mark.parametrize(
    ("text", "number"),
    [("48", 48.0), ("+48", 48.0), ("48.", 48.0), (".5e2", 50.0), ("4.8E1", 48.0),
     (" 48 ", 48.0), ("-0", 0.0)],
)
def test_ascii_decimal_strings_are_numbers(preoperative, text, number) -> None:
    """The CSV and JSON spellings of a number keep working."""
    record = validate_record({**preoperative, "scca_ng_ml": text}, Stage.PREOPERATIVE)
    assert record["scca_ng_ml"] == number


@pytest.mark.parametrize(
    "text",
    ["４８", "٤٨", "४८", "4_8", "48\u00a0", "0x30", "nan", "inf", "Infinity", "4 8", "48,5",
     "１e1", "e5", "."],
)
def test_numbers_as_text_must_be_ascii_decimal(preoperative, text) -> None:
    found = _violations({**preoperative, "age_years": text}, Stage.PREOPERATIVE)
    assert list(found) == ["clinical.age_years"]
    assert "ASCII decimal" in found["clinical.age_years"]


def test_an_integer_too_large_for_a_float_is_a_violation(preoperative) -> None:
    found = _violations({**preoperative, "age_years": 10 ** 400}, Stage.PREOPERATIVE)
    assert found == {"clinical.age_years": "must be a number in years; got an integer too "
                                           "large for a float"}


def test_many_unknown_variables_are_listed_up_to_five_and_counted(preoperative) -> None:
    raw = {**preoperative, **{f"extra_{k}": 1 for k in range(100_000)}, "x" * 1000: 1}
    found = _violations(raw, Stage.PREOPERATIVE)
    assert list(found) == [f"clinical.extra_{k}" for k in range(5)] + ["clinical"]
    assert found["clinical"] == "100001 unknown variables in all; the first 5 are listed"
