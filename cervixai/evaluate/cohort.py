"""The patients an evaluation sends: rows of a cohort's clinical.csv, their files, their truth."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai.cohort import format as cf

SPLITS = ("test", "train", "all")
OUTCOMES = ("rfs", "os")
FIGO_GROUPS = {"ia1": "I", "ia2": "I", "ib1": "I", "ib2": "I", "iia1": "II", "iia2": "II",
               "iib": "II"}
AGE_BANDS = ((40.0, "<40"), (50.0, "40–49"), (60.0, "50–59"), (float("inf"), "≥60"))
NOT_GIVEN = "not given"


@dataclass(frozen=True)
class Patient:
    """One patient to evaluate. ``index`` (1-based, in clinical.csv order among the evaluated
    split) is how logs and errors name the patient; ``patient_id`` is the cohort's pseudonym."""

    index: int
    patient_id: str
    row: Mapping[str, str]
    images: Path
    mask: Path


def cohort_name(cohort: Path) -> str:
    return cohort.resolve().name


def load_patients(cohort: Path, split: str = "test", limit: int | None = None) -> list[Patient]:
    """The patients of ``split`` (``all``: every row), in clinical.csv order, at most ``limit``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    path = cohort / cf.CLINICAL_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{cohort} is not a cohort folder: {cf.CLINICAL_CSV} is missing")
    _, rows = cf.read_csv(path)
    chosen = [r for r in rows if split == "all" or r.get("split") == split]
    if limit is not None:
        chosen = chosen[:max(limit, 0)]
    return [Patient(i + 1, r["patient_id"], r, cohort / cf.IMAGES_DIR / r["patient_id"],
                    cohort / cf.MASKS_DIR / f"{r['patient_id']}.dcm")
            for i, r in enumerate(chosen)]


def read_oracle(cohort: Path) -> dict[str, dict[str, float]] | None:
    """oracle.csv by patient id (synthetic cohorts), None when the cohort has none."""
    path = cohort / cf.ORACLE_CSV
    if not path.is_file():
        return None
    _, rows = cf.read_csv(path)
    return {r["patient_id"]: {k: float(v) for k, v in r.items() if k != "patient_id" and v}
            for r in rows}


def task_outcome(patient: Patient, task: str) -> int:
    return cf.task_label(patient.row, task)


def survival_outcome(patient: Patient, outcome: str) -> tuple[float, int]:
    """(months, event) of ``rfs`` or ``os``."""
    return float(patient.row[f"{outcome}_months"]), int(patient.row[f"{outcome}_event"])


def figo_group(row: Mapping[str, str]) -> str:
    """FIGO stage group: I (IA*, IB*) or II (IIA*, IIB)."""
    return FIGO_GROUPS.get(row.get("figo_stage", "").strip().lower(), NOT_GIVEN)


def age_band(row: Mapping[str, str]) -> str:
    text = row.get("age_years", "").strip()
    if not text:
        return NOT_GIVEN
    age = float(text)
    return next(label for upper, label in AGE_BANDS if age < upper)


def truth_mask(patient: Patient) -> tuple[npt.NDArray[np.bool_], tuple[int, int]]:
    """The ground-truth mask on the grid the gateway ingests the series to (the same ingestion),
    and the series' original in-plane matrix (rows, columns)."""
    from cervixai.cohort.masks import read_mask
    from cervixai.dicom import load_series_from_path

    series = load_series_from_path(patient.images)
    shape = tuple(int(s) for s in series.volume.shape)
    assert len(shape) == 3
    mask = read_mask(patient.mask, series.geometry, (shape[0], shape[1], shape[2]))
    return mask, (int(series.info.rows), int(series.info.columns))
