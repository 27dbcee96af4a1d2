"""Mapping between ``cervix.v1.ClinicalRecord`` messages and schema records (schema-driven)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cervix.v1 import clinical_pb2
from cervixai.clinical.schema import BY_NAME, VARIABLES, Kind, Stage, enum_value_name
from cervixai.clinical.validate import ClinicalRecord, validate_record
from cervixai.errors import FieldViolation, InvalidInput

_FIELDS = clinical_pb2.ClinicalRecord.DESCRIPTOR.fields_by_name


def _enum(field_name: str) -> Any:
    enum = _FIELDS[field_name].enum_type
    if enum is None:
        raise TypeError(f"ClinicalRecord.{field_name} is not an enum field")
    return enum


def record_from_proto(
    message: clinical_pb2.ClinicalRecord, stage: Stage, *, prefix: str = "clinical"
) -> ClinicalRecord:
    """Validate a ClinicalRecord message for ``stage``; InvalidInput lists every problem."""
    raw: dict[str, object] = {}
    violations: list[FieldViolation] = []
    for var in VARIABLES:
        if var.kind is Kind.CONTINUOUS:
            if message.HasField(var.name):
                raw[var.name] = getattr(message, var.name)
            continue
        number = getattr(message, var.name)
        if number == 0:
            continue
        enum = _enum(var.name)
        value = enum.values_by_number.get(number)
        if value is None:
            violations.append(FieldViolation(
                f"{prefix}.{var.name}", f"unknown {enum.name} value {number}"))
            continue
        raw[var.name] = _level_of(var.name, value.name)
    try:
        record = validate_record(raw, stage, prefix=prefix)
    except InvalidInput as e:
        raise InvalidInput([*violations, *e.violations]) from None
    if violations:
        raise InvalidInput(violations)
    return record


def record_to_proto(record: Mapping[str, object]) -> clinical_pb2.ClinicalRecord:
    """The message for a validated record (or any mapping of normalised values)."""
    message = clinical_pb2.ClinicalRecord()
    for var in VARIABLES:
        value = record.get(var.name)
        if value is None:
            continue
        if var.kind is Kind.CONTINUOUS:
            setattr(message, var.name, float(value))  # type: ignore[arg-type]
        else:
            enum = _enum(var.name)
            setattr(message, var.name, enum.values_by_name[enum_value_name(var, str(value))].number)
    return message


def _level_of(variable: str, enum_value: str) -> str:
    var = BY_NAME[variable]
    for level in var.levels:
        if enum_value_name(var, level) == enum_value:
            return level
    raise ValueError(f"{enum_value} has no level in {variable}")  # schema/proto drift; tested
