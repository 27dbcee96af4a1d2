"""The synthetic cohort generator: ``cervixai cohort synth --n 250 --seed 0 --out DIR``.

Clinical variables follow the study's Table 1 (:mod:`.clinical`); outcomes come from a known
generating model (:mod:`.outcomes`); each patient's coronal T2 FS series and lesion mask are
rendered (:mod:`.image`) and written as real DICOM (MR Image Storage + SEG) in the cohort format
(:mod:`cervixai.cohort.format`). Everything is deterministic for a seed: patient ``i`` draws its
image from its own child of ``SeedSequence(seed)``, so the result does not depend on how many
worker processes render it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai import __version__
from cervixai.cohort import format as cf
from cervixai.cohort.synth.clinical import ClinicalDraw, draw_clinical
from cervixai.cohort.synth.outcomes import Outcomes, draw_outcomes

GENERATOR = "cervixai synthetic cohort v1"


@dataclass(frozen=True)
class Acquisition:
    """Per-patient scanner settings, drawn like a two-hospital archive."""

    matrix: int
    pixel_mm: float
    slice_mm: float
    slices: int


@dataclass(frozen=True)
class PatientJob:
    index: int
    patient_id: str
    seed: np.random.SeedSequence
    tumor_size_cm: float
    heterogeneity: float
    irregularity: float
    age_years: float
    acquisition: Acquisition
    out: Path


def _acquisition(rng: np.random.Generator) -> Acquisition:
    if rng.random() < 0.5:
        matrix, pixel = 256, rng.uniform(0.8, 1.0)
    else:
        matrix, pixel = 320, rng.uniform(0.6, 0.8)
    return Acquisition(matrix, round(float(pixel), 4), float(rng.choice([4.0, 4.5, 5.0, 5.5, 6.0])),
                       int(rng.integers(18, 31)))


def _stratified_split(labels: np.ndarray, rng: np.random.Generator,
                      test_share: float = 0.2) -> np.ndarray:
    """'train'/'test' per patient, 8:2 within each stratum of ``labels``."""
    split = np.full(len(labels), "train", dtype=object)
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        split[members[: round(test_share * len(members))]] = "test"
    return split


@dataclass(frozen=True)
class PatientDraw:
    """The per-patient draw of a cohort, before its split, acquisitions and images."""

    clinical: ClinicalDraw
    heterogeneity: npt.NDArray[np.float64]
    irregularity: npt.NDArray[np.float64]
    outcomes: Outcomes
    # the cohort's generator, positioned after the outcomes (the split and acquisitions follow)
    rng: np.random.Generator
    patient_seeds: list[np.random.SeedSequence]


def draw_patients(n: int, seed: int) -> PatientDraw:
    """The clinical variables, image latents and outcomes that ``synthesize(out, n, seed)`` writes
    — the same random stream, without writing anything or rendering an image."""
    root = np.random.SeedSequence(seed)
    cohort_seed, *patient_seeds = root.spawn(n + 1)
    rng = np.random.default_rng(cohort_seed)
    clinical = draw_clinical(n, rng)
    heterogeneity = rng.standard_normal(n)
    irregularity = rng.standard_normal(n)
    outcomes = draw_outcomes(clinical, heterogeneity, irregularity, rng)
    return PatientDraw(clinical, heterogeneity, irregularity, outcomes, rng, patient_seeds)


def synthesize(out: Path, n: int, seed: int, *, images: bool = True, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Write a synthetic cohort of ``n`` patients into ``out`` (which must not exist or be empty).

    ``images=False`` writes the clinical, oracle and manifest files only (fast; for studies of
    the clinical model). ``progress(done, total)`` is called as patients are rendered.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    drawn = draw_patients(n, seed)
    rng, patient_seeds = drawn.rng, drawn.patient_seeds
    clinical, outcomes = drawn.clinical, drawn.outcomes
    heterogeneity, irregularity = drawn.heterogeneity, drawn.irregularity
    strata = (outcomes.parametrial_invasion.astype(int) * 4 + outcomes.recurrence * 2
              + outcomes.lymph_node_metastasis)
    split = _stratified_split(strata, rng)
    ids = [f"SYN-{i + 1:04d}" for i in range(n)]
    acquisitions = [_acquisition(rng) for _ in range(n)]

    rows = _clinical_rows(ids, split, clinical.columns, outcomes)
    cf.write_csv(out / cf.CLINICAL_CSV, cf.CLINICAL_COLUMNS, rows)
    oracle_rows = [{"patient_id": pid, **{k: float(v[i]) for k, v in outcomes.oracle.items()}}
                   for i, pid in enumerate(ids)]
    cf.write_csv(out / cf.ORACLE_CSV, cf.ORACLE_COLUMNS, oracle_rows)

    if images:
        jobs = [PatientJob(i, ids[i], patient_seeds[i], float(clinical.true_tumor_size_cm[i]),
                           float(heterogeneity[i]), float(irregularity[i]),
                           float(clinical.columns["age_years"][i]), acquisitions[i], out)
                for i in range(n)]
        _render_all(jobs, workers, progress)

    manifest = {
        "format_version": cf.FORMAT_VERSION,
        "source": GENERATOR,
        "software_version": __version__,
        "seed": seed,
        "patients": n,
        "images": images,
        "splits": {s: int((split == s).sum()) for s in cf.SPLITS},
        "events": {
            "parametrial_invasion": int(outcomes.parametrial_invasion.sum()),
            "lymph_node_metastasis": int(outcomes.lymph_node_metastasis.sum()),
            "recurrence": int(outcomes.recurrence.sum()),
            "death": int(outcomes.death.sum()),
        },
    }
    (out / cf.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _clinical_rows(ids: list[str], split: np.ndarray, columns: dict[str, np.ndarray],
                   outcomes: Outcomes) -> list[dict[str, object]]:
    rows = []
    for i, pid in enumerate(ids):
        row: dict[str, object] = {"patient_id": pid, "split": split[i]}
        for name, values in columns.items():
            value = values[i]
            row[name] = float(value) if isinstance(value, np.floating) else str(value)
        row["parametrial_involvement"] = "yes" if outcomes.parametrial_invasion[i] else "no"
        row["lymph_node_metastasis"] = str(outcomes.lymph_node_site[i])
        row["parametrial_invasion"] = bool(outcomes.parametrial_invasion[i])
        row["recurrence"] = bool(outcomes.recurrence[i])
        row["recurrence_site"] = str(outcomes.recurrence_site[i])
        row["death"] = bool(outcomes.death[i])
        row["rfs_months"] = float(outcomes.rfs_months[i])
        row["rfs_event"] = bool(outcomes.rfs_event[i])
        row["os_months"] = float(outcomes.os_months[i])
        row["os_event"] = bool(outcomes.os_event[i])
        rows.append(row)
    return rows


def _render_all(jobs: list[PatientJob], workers: int | None,
                progress: Callable[[int, int], None] | None) -> None:
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    (jobs[0].out / cf.IMAGES_DIR).mkdir(exist_ok=True)
    (jobs[0].out / cf.MASKS_DIR).mkdir(exist_ok=True)
    done = 0
    try:
        if workers == 1:
            for job in jobs:
                render_patient(job)
                done += 1
                if progress:
                    progress(done, len(jobs))
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(render_patient, jobs, chunksize=4):
                done += 1
                if progress:
                    progress(done, len(jobs))
    except BaseException:
        # nothing half-written: a cohort is complete or absent
        shutil.rmtree(jobs[0].out, ignore_errors=True)
        raise


def render_patient(job: PatientJob) -> None:
    """Render one patient's series and mask and write them (runs in a worker process)."""
    from cervixai.cohort.masks import write_seg
    from cervixai.cohort.synth.identity import fake_identity
    from cervixai.cohort.synth.image import render
    from cervixai.dicom.writer import PatientIdentity, series_datasets

    rng = np.random.default_rng(job.seed)
    acq = job.acquisition
    rendered = render(rng, tumor_size_cm=job.tumor_size_cm, heterogeneity=job.heterogeneity,
                      irregularity=job.irregularity, matrix=acq.matrix, pixel_mm=acq.pixel_mm,
                      slice_mm=acq.slice_mm, slices=acq.slices)
    fake = fake_identity(rng, job.age_years)
    identity = PatientIdentity(
        name=fake.patient_name, patient_id=fake.patient_id, birth_date=fake.birth_date,
        accession_number=fake.accession_number, institution_name=fake.institution,
        referring_physician=fake.referring_physician, study_date=fake.study_date)
    datasets = series_datasets(
        rendered.volume, spacing_mm=(acq.slice_mm, acq.pixel_mm, acq.pixel_mm),
        orientation="coronal", origin_mm=rendered.grid.origin_mm,
        series_description="COR T2 FS", patient=identity,
        echo_time_ms=float(rng.uniform(80, 110)), repetition_time_ms=float(rng.uniform(3000, 5000)))
    folder = job.out / cf.IMAGES_DIR / job.patient_id
    folder.mkdir(parents=True, exist_ok=True)
    for k, ds in enumerate(datasets):
        ds.save_as(folder / f"IM{k + 1:04d}.dcm", enforce_file_format=True)
    write_seg(rendered.mask, datasets, job.out / cf.MASKS_DIR / f"{job.patient_id}.dcm")
