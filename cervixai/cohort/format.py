"""The cohort format: how a cohort (synthetic or a hospital's own) is laid out on disk.

::

    COHORT/
      cohort.json              format version, source, counts (and the generator's seed)
      clinical.csv             one row per patient: patient_id, split, schema variables, outcomes
      images/<patient_id>/     the patient's MR series, DICOM files (any names, any order)
      masks/<patient_id>.dcm   the ground-truth lesion mask, a DICOM Segmentation (SEG)
      oracle.csv               synthetic cohorts only: the true probability / risk per outcome

Full description: docs/cohort-format.md.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cervixai.clinical.schema import VARIABLES, Kind, Stage, variables_for

FORMAT_VERSION = 1
MANIFEST = "cohort.json"
CLINICAL_CSV = "clinical.csv"
ORACLE_CSV = "oracle.csv"
IMAGES_DIR = "images"
MASKS_DIR = "masks"
SPLITS = ("train", "test")

# Binary outcomes are 0/1. lymph_node_metastasis is a schema variable (its site level); its
# binary outcome is "level other than no", so the column is not repeated.
BINARY_OUTCOMES = ("parametrial_invasion", "recurrence", "death")
OUTCOME_COLUMNS = (*BINARY_OUTCOMES, "recurrence_site", "rfs_months", "rfs_event", "os_months",
                   "os_event")
ID_COLUMNS = ("patient_id", "split")
CLINICAL_COLUMNS = (*ID_COLUMNS, *(v.name for v in VARIABLES), *OUTCOME_COLUMNS)
ORACLE_COLUMNS = ("patient_id", "parametrial_invasion", "lymph_node_metastasis", "recurrence",
                  "death", "rfs_risk", "os_risk")
# The four binary tasks and how each is read off a clinical.csv row.
TASKS = ("parametrial_invasion", "lymph_node_metastasis", "recurrence", "death")


@dataclass(frozen=True)
class Problem:
    """One problem found in a cohort folder."""

    patient: str | None
    field: str
    message: str
    # "error": the cohort cannot be used as it is; "note": worth knowing, not blocking.
    severity: str = "error"

    def __str__(self) -> str:
        who = f"patient {self.patient}" if self.patient else "cohort"
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{prefix}{who}: {self.field}: {self.message}"


def record_of(row: Mapping[str, str], stage: Stage) -> dict[str, float | str]:
    """The clinical variables that ``stage``'s models read, from one clinical.csv row (numbers as
    floats, levels as text, empty cells left out) — ready for validation or the HTTP API."""
    return {v.name: float(row[v.name]) if v.kind is Kind.CONTINUOUS else row[v.name]
            for v in variables_for(stage) if row.get(v.name)}


def task_label(row: Mapping[str, str], task: str) -> int:
    """The 0/1 label of one binary task in a clinical.csv row."""
    if task == "lymph_node_metastasis":
        return int(row["lymph_node_metastasis"].strip().lower() not in ("no", ""))
    return int(row[task])


def format_value(value: object) -> str:
    """CSV text of one value: empty for missing, integers without a decimal point."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:g}" if value == round(value, 6) else f"{value:.6g}"
    return str(value)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> int:
    """Write rows (missing keys empty) with exactly ``columns``; return the number written."""
    count = 0
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([format_value(row.get(c)) for c in columns])
            count += 1
    return count


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file (values as text)."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = [dict(r) for r in reader]
        return list(reader.fieldnames or []), rows
