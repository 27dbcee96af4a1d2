"""The clinical schema as a table, for docs/clinical-schema.md and ``cervixai clinical schema``."""

from __future__ import annotations

from cervixai.clinical.encode import plan
from cervixai.clinical.schema import OUTCOME_VARIABLES, VARIABLES, Kind, Stage, Variable

HEADER = ("variable", "type", "unit", "range or levels", "models", "when not given")


def _row(var: Variable) -> tuple[str, ...]:
    if var.kind is Kind.CONTINUOUS:
        allowed = f"{var.minimum:g} to {var.maximum:g}"
    else:
        allowed = ", ".join(var.levels)
    models = ", ".join(s.value for s in var.stages) or "recorded only"
    if var.has_unknown:
        absent = "unknown"
    elif var.optional:
        absent = "imputed (training median)"
    elif var.stages:
        absent = "required"
    else:
        absent = "allowed"
    return (var.name, var.kind.value, var.unit or "", allowed, models, absent)


def schema_rows() -> list[tuple[str, ...]]:
    return [HEADER, *(_row(v) for v in VARIABLES)]


def schema_markdown() -> str:
    """The variable table, the outcome table and the study's encodings, as Markdown."""

    def table(rows: list[tuple[str, ...]]) -> list[str]:
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return out

    lines = ["## Model inputs", "", *table(schema_rows()), "", "## Outcomes (cohort format only)",
             "", *table([HEADER, *(_row(v) for v in OUTCOME_VARIABLES)]), "",
             "## The study's encodings", ""]
    for stage in Stage:
        p = plan(f"paper_{stage.value}")
        lines.append(f"`{p.feature_set}`: {len(p.variables)} variables → {len(p.columns)} "
                     f"columns: {', '.join(f'`{n}`' for n in p.names)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
