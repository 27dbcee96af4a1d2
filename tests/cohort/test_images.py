"""Synthetic series are real, ingestible DICOM with aligned SEG masks and a lesion that a global
threshold cannot find; generation is deterministic; `cohort check` finds broken cohorts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from cervixai.cohort import format as cf
from cervixai.cohort.check import check_cohort
from cervixai.cohort.masks import read_mask, write_seg
from cervixai.cohort.synth import synthesize
from cervixai.cohort.synth.image import render
from cervixai.dicom import load_series_from_path
from cervixai.dicom.writer import series_datasets


def _ids(cohort: Path) -> list[str]:
    return [r["patient_id"] for r in cf.read_csv(cohort / cf.CLINICAL_CSV)[1]]


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=512)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    return float(centres[np.argmax(w0 * w1 * (m0 - m1) ** 2)])


def test_series_are_coronal_mr_within_the_study_protocol(image_cohort: Path) -> None:
    for pid in _ids(image_cohort):
        files = sorted((image_cohort / cf.IMAGES_DIR / pid).glob("*.dcm"))
        assert 18 <= len(files) <= 30
        ds = pydicom.dcmread(files[0])
        assert ds.SOPClassUID == pydicom.uid.MRImageStorage and ds.Modality == "MR"
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 0, -1]
        assert 0.6 <= float(ds.PixelSpacing[0]) <= 1.0
        assert 4.0 <= float(ds.SliceThickness) <= 6.0
        assert (ds.Rows, ds.Columns) in ((256, 256), (320, 320))
        volume = np.stack([pydicom.dcmread(f).pixel_array for f in files])
        assert volume.dtype == np.uint16 and volume.min() < 50 and volume.max() > 1000
        assert str(ds.PatientName) and ds.PatientID.startswith("MRN") and ds.PatientBirthDate


def test_identifiers_stay_in_the_dicom_files(image_cohort: Path) -> None:
    pid = _ids(image_cohort)[0]
    ds = pydicom.dcmread(next((image_cohort / cf.IMAGES_DIR / pid).glob("*.dcm")))
    series = load_series_from_path(image_cohort / cf.IMAGES_DIR / pid)
    csv_text = (image_cohort / cf.CLINICAL_CSV).read_text()
    for secret in (str(ds.PatientName), ds.PatientID, ds.PatientBirthDate, ds.AccessionNumber):
        assert secret not in csv_text
        assert secret not in repr(series)


def test_masks_align_with_the_ingested_series_and_defeat_otsu(image_cohort: Path) -> None:
    for pid in _ids(image_cohort):
        series = load_series_from_path(image_cohort / cf.IMAGES_DIR / pid)
        mask = read_mask(image_cohort / cf.MASKS_DIR / f"{pid}.dcm", series.geometry,
                         series.volume.shape)
        assert mask.any(), pid
        lesion = series.volume[mask].mean()
        ring = series.volume[np.roll(mask, 12, axis=2) & ~mask].mean()
        assert abs(lesion - ring) > 0.02, "the lesion must be visible"
        otsu = series.volume > _otsu(series.volume)
        dice = 2 * (otsu & mask).sum() / (otsu.sum() + mask.sum())
        assert dice < 0.5, (pid, dice)


def test_seg_round_trip_through_centre_crop(tmp_path: Path) -> None:
    rendered = render(np.random.default_rng(5), tumor_size_cm=3.0, heterogeneity=0.0,
                      irregularity=0.0, matrix=320, pixel_mm=0.7, slice_mm=5.0, slices=20)
    datasets = series_datasets(rendered.volume, spacing_mm=(5.0, 0.7, 0.7),
                               origin_mm=rendered.grid.origin_mm)
    (tmp_path / "series").mkdir()
    for k, ds in enumerate(datasets):
        ds.save_as(tmp_path / "series" / f"{k:03d}.dcm", enforce_file_format=True)
    write_seg(rendered.mask, datasets, tmp_path / "mask.dcm")
    series = load_series_from_path(tmp_path / "series")
    assert series.info.in_plane == "centre-cropped"
    mask = read_mask(tmp_path / "mask.dcm", series.geometry, series.volume.shape)
    np.testing.assert_array_equal(mask, rendered.mask[:, 32:288, 32:288])
    # a 3 cm lesion: at most the 3 cm sphere (14.1 mL), at least its flattest ellipsoid
    assert 14.1 * 0.6 * 0.7 <= mask.sum() * 5.0 * 0.7 * 0.7 / 1000 <= 14.1 * 1.1


def test_generation_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    synthesize(a, 3, seed=42, workers=1)
    synthesize(b, 3, seed=42, workers=2)
    assert (a / cf.CLINICAL_CSV).read_text() == (b / cf.CLINICAL_CSV).read_text()
    assert (a / cf.ORACLE_CSV).read_text() == (b / cf.ORACLE_CSV).read_text()
    for pid in _ids(a):
        va = load_series_from_path(a / cf.IMAGES_DIR / pid).volume
        vb = load_series_from_path(b / cf.IMAGES_DIR / pid).volume
        np.testing.assert_array_equal(va, vb)
    c = tmp_path / "c"
    synthesize(c, 3, seed=43, images=False)
    assert (c / cf.CLINICAL_CSV).read_text() != (a / cf.CLINICAL_CSV).read_text()


def test_refuses_a_non_empty_folder(image_cohort: Path) -> None:
    with pytest.raises(FileExistsError, match="not empty"):
        synthesize(image_cohort, 2, seed=0)


def test_check_accepts_the_generated_cohort(image_cohort: Path) -> None:
    problems = [p for p in check_cohort(image_cohort) if p.severity == "error"]
    # 8 patients are too few for every task to have positives in both splits; nothing else
    assert all("no positive patient" in p.message for p in problems), problems


def test_check_lists_every_problem_with_patient_and_field(image_cohort: Path,
                                                          tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(image_cohort, broken)
    ids = _ids(broken)
    (broken / cf.MASKS_DIR / f"{ids[0]}.dcm").unlink()
    shutil.rmtree(broken / cf.IMAGES_DIR / ids[1])
    header, rows = cf.read_csv(broken / cf.CLINICAL_CSV)
    rows[2]["age_years"] = "230"
    rows[3]["split"] = "validation"
    rows[4]["death"], rows[4]["os_event"] = "1", "0"
    rows[5]["patient_id"] = rows[6]["patient_id"]
    cf.write_csv(broken / cf.CLINICAL_CSV, header, rows)
    found = {(p.patient, p.field) for p in check_cohort(broken)
             if "no positive patient" not in p.message}
    assert {(ids[0], "masks"), (ids[1], "images"), (ids[2], "age_years"), (ids[3], "split"),
            (ids[4], "os_event"), (ids[6], "patient_id")} <= found
