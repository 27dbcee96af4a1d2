"""Validation of clinical records against the schema, reporting every problem at once.

Input is a plain mapping (JSON from the HTTP API, a CSV row of a cohort, or the output of
:func:`cervixai.clinical.proto.record_from_proto`). Output is a :class:`ClinicalRecord` holding a
normalised value for every schema variable. Problems raise :class:`cervixai.errors.InvalidInput`
with one :class:`~cervixai.errors.FieldViolation` per problem, named ``clinical.<variable>``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType

from cervixai.clinical.schema import (
    BY_NAME,
    UNKNOWN,
    VARIABLES,
    Kind,
    Stage,
    Variable,
)
from cervixai.errors import FieldViolation, InvalidInput

Value = float | str | None

# A number sent as text: ASCII decimal only. Python's float() also takes "４８", "٤٨", "४८" and
# "4_8", which no clinical system means as 48.
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_ASCII_SPACE = " \t\r\n\f\v"
_NAMED_UNKNOWN = 5  # unknown variables reported by name; the rest are counted
_KEY_CHARS = 64     # how much of an unknown key a violation quotes
_TRUE_WORDS = {"yes", "true", "1", "y"}
_FALSE_WORDS = {"no", "false", "0", "n"}


class ClinicalRecord(Mapping[str, Value]):
    """A validated record, read-only: every schema variable → float, level name, or None."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Value]) -> None:
        missing = [v.name for v in VARIABLES if v.name not in values]
        extra = [k for k in values if k not in BY_NAME]
        if missing or extra:
            raise ValueError(f"record must hold exactly the schema variables: "
                             f"missing {missing}, unexpected {extra}")
        self._values: Mapping[str, Value] = MappingProxyType(dict(values))

    def __getitem__(self, name: str) -> Value:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # Never print clinical values: records end up in tracebacks and logs.
        return f"ClinicalRecord(<{len(self.given())} of {len(self)} variables given>)"

    def given(self) -> dict[str, float | str]:
        """The variables that have a value."""
        return {k: v for k, v in self._values.items() if v is not None}


def validate_record(
    raw: Mapping[str, object], stage: Stage, *, prefix: str = "clinical"
) -> ClinicalRecord:
    """Check ``raw`` for ``stage`` and return the normalised record, or raise InvalidInput listing
    every problem (unknown variables, wrong types, out-of-range values, unknown levels, missing
    required variables, and contradictions between variables)."""
    values, violations = parse_values(raw, VARIABLES, prefix=prefix)
    reported = {v.field for v in violations}
    for var in VARIABLES:
        if values[var.name] is None and f"{prefix}.{var.name}" not in reported:
            if var.required_at(stage):
                violations.append(FieldViolation(
                    f"{prefix}.{var.name}",
                    f"required for a {stage.value} assessment ({var.description})"))
            elif var.has_unknown and (stage in var.stages or not var.stages):
                values[var.name] = UNKNOWN
    violations.extend(_consistency(values, prefix))
    if violations:
        raise InvalidInput(violations)
    return ClinicalRecord(values)


def parse_values(
    raw: Mapping[str, object], variables: Sequence[Variable], *, prefix: str
) -> tuple[dict[str, Value], list[FieldViolation]]:
    """Parse each known variable of ``raw``; unknown keys and bad values become violations."""
    known = {v.name: v for v in variables}
    values: dict[str, Value] = {v.name: None for v in variables}
    violations: list[FieldViolation] = []
    unknown = 0
    for key, value in raw.items():
        var = known.get(key)
        if var is None:
            unknown += 1
            if unknown <= _NAMED_UNKNOWN:
                violations.append(_unknown_variable(str(key), known, prefix))
            continue
        try:
            values[key] = parse_value(var, value)
        except ValueError as e:
            violations.append(FieldViolation(f"{prefix}.{key}", str(e)))
    if unknown > _NAMED_UNKNOWN:
        violations.append(FieldViolation(prefix, f"{unknown} unknown variables in all; the "
                                                 f"first {_NAMED_UNKNOWN} are listed"))
    return values, violations


def _unknown_variable(key: str, known: Mapping[str, Variable], prefix: str) -> FieldViolation:
    """One unknown key, with the nearest variable name (a long key is cut, not quoted whole)."""
    shown = key if len(key) <= _KEY_CHARS else key[:_KEY_CHARS] + "…"
    hint = difflib.get_close_matches(shown, list(known), n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return FieldViolation(f"{prefix}.{shown}", f"unknown variable{suggestion}")


def parse_value(var: Variable, value: object) -> Value:
    """One value of ``var``, normalised; None for 'not given'. ValueError says what is wrong."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if var.kind is Kind.CONTINUOUS:
        return _parse_number(var, value)
    return _parse_level(var, value)


def _parse_number(var: Variable, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number in {var.unit}, got {type(value).__name__}")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value.strip(_ASCII_SPACE)):
        shown = value if len(value) <= _KEY_CHARS else value[:_KEY_CHARS] + "…"
        raise ValueError(f"must be a number in {var.unit}, got {shown!r} (numbers sent as "
                         f"text are ASCII decimal: digits 0-9, optional sign, point and "
                         f"exponent)")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float (JSON allows any number of digits)
        raise ValueError(f"must be a number in {var.unit}; got an integer too large for a "
                         f"float") from None
    except ValueError:
        raise ValueError(f"must be a number in {var.unit}, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {value!r}")
    assert var.minimum is not None and var.maximum is not None
    if not var.minimum <= number <= var.maximum:
        raise ValueError(f"{number:g} {var.unit} is outside the plausible range "
                         f"{var.minimum:g} to {var.maximum:g} {var.unit}")
    return number


def _parse_level(var: Variable, value: object) -> str:
    if isinstance(value, bool) and set(var.levels) >= {"yes", "no"}:
        return "yes" if value else "no"
    if not isinstance(value, str):
        raise ValueError(f"must be one of {', '.join(var.levels)}; got {type(value).__name__}")
    level = value.strip().lower().replace("-", "_").replace(" ", "_")
    if set(var.levels) == {"yes", "no"}:
        if level in _TRUE_WORDS:
            return "yes"
        if level in _FALSE_WORDS:
            return "no"
    if level not in var.levels:
        raise ValueError(f"{value!r} is not a level of {var.name}; "
                         f"expected one of {', '.join(var.levels)}")
    return level


def _consistency(values: Mapping[str, Value], prefix: str) -> list[FieldViolation]:
    """Contradictions between variables, each reported on the variable that depends on another."""
    problems: list[FieldViolation] = []
    histology, keratinization = values.get("histology"), values.get("keratinization")
    if histology is not None and keratinization not in (None, UNKNOWN):
        if histology == "squamous" and keratinization == "non_squamous":
            problems.append(FieldViolation(
                f"{prefix}.keratinization",
                "'non_squamous' contradicts histology 'squamous'"))
        if histology != "squamous" and keratinization in ("yes", "no"):
            problems.append(FieldViolation(
                f"{prefix}.keratinization",
                f"keratinization is graded for squamous carcinoma only, histology is "
                f"{histology!r}; use 'non_squamous'"))
    stage = values.get("figo_stage")
    size = values.get("tumor_size_cm")
    if stage in ("ia1", "ia2") and isinstance(size, float) and size > 4.0:
        problems.append(FieldViolation(
            f"{prefix}.tumor_size_cm",
            f"{size:g} cm contradicts FIGO stage {str(stage).upper()} (microinvasive disease)"))
    return problems
