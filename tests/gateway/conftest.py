from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from cervixai.dicom.writer import PatientIdentity, series_datasets

IDENTITY = PatientIdentity(name="Doe^Jane", patient_id="MRN99887766", birth_date="19710203",
                           accession_number="ACC5551234", institution_name="Test Hospital")
PREOPERATIVE = {"age_years": 48, "comorbidity": "no", "hpv_status": "hpv16_18",
                "scca_ng_ml": 2.1, "leep_history": "no"}
POSTOPERATIVE = {
    **PREOPERATIVE, "figo_stage": "ib1", "surgery_approach": "laparoscopic",
    "operative_time_min": 180, "blood_loss_ml": 200, "transfusion": "no",
    "adjuvant_therapy": "yes", "tumor_size_cm": 3.2, "histology": "squamous",
    "stromal_invasion_depth": "outer_third", "lvsi": "yes", "margin_involved": "no",
    "parametrial_involvement": "no", "lymph_node_metastasis": "no", "p53": "positive",
    "p16": "positive", "ki67_index": "40_60"}


def dicom_files(slices: int = 16, size: int = 320, seed: int = 0) -> list[tuple[str, bytes]]:
    """A synthetic coronal series with identifying headers, as (name, bytes) uploads."""
    import numpy as np

    from cervixai.cohort.synth.image import render

    rendered = render(np.random.default_rng(seed), tumor_size_cm=3.5, heterogeneity=0.0,
                      irregularity=0.0, matrix=size, pixel_mm=0.7, slice_mm=5.0, slices=slices)
    out = []
    for k, ds in enumerate(series_datasets(rendered.volume, spacing_mm=(5.0, 0.7, 0.7),
                                           origin_mm=rendered.grid.origin_mm,
                                           patient=IDENTITY)):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((f"slice-{k:03d}.dcm", buffer.getvalue()))
    return out


def as_zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(f"study/{name}", data)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def series_files() -> list[tuple[str, bytes]]:
    return dicom_files()


@pytest.fixture
def preoperative() -> dict[str, object]:
    return dict(PREOPERATIVE)


@pytest.fixture
def postoperative() -> dict[str, object]:
    return dict(POSTOPERATIVE)


@pytest.fixture
def identity() -> PatientIdentity:
    return IDENTITY


@pytest.fixture
def zip_of() -> object:
    return as_zip


@pytest.fixture
def gateway_env(unused_port: object, tmp_path: Path) -> dict[str, str]:
    """Environment for a gateway whose backends listen nowhere (ports just freed)."""
    port = unused_port  # type: ignore[assignment]
    return {
        "CERVIXAI_GATEWAY_HTTP_PORT": str(port()),  # type: ignore[operator]
        "CERVIXAI_SEGMENTER_ADDRESS": f"127.0.0.1:{port()}",  # type: ignore[operator]
        "CERVIXAI_CLASSIFIER_ADDRESS": f"127.0.0.1:{port()}",  # type: ignore[operator]
        "CERVIXAI_SURVIVAL_ADDRESS": f"127.0.0.1:{port()}",  # type: ignore[operator]
        "CERVIXAI_GATEWAY_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
