"""Real third-party files bundled with pydicom: accepted alike, or refused with InvalidInput.

``get_testdata_file(name, download=False)`` looks only at the files installed with pydicom (and
a locally installed pydicom-data); it never reaches the network, so the emri_small* files, which
pydicom downloads on demand, are skipped here.
"""

from __future__ import annotations

import gzip
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from cervixai.dicom import (
    DicomSource,
    IngestOptions,
    UnsupportedSeriesError,
    load_series,
    load_series_from_path,
)
from cervixai.errors import InvalidInput

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
MR_SMALL = [
    "MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_implicit.dcm",
    "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
    "MR_small_padded.dcm",
]
EMRI_SMALL = ["emri_small.dcm", "emri_small_big_endian.dcm", "emri_small_jpeg_2k_lossless.dcm",
              "emri_small_jpeg_ls_lossless.dcm", "emri_small_RLE.dcm"]


def _bundled(name: str) -> DicomSource:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not bundled with pydicom and cannot be downloaded here")
    return DicomSource(name, Path(path).read_bytes())


@pytest.fixture(scope="module")
def mr_small_reference():
    return load_series([_bundled("MR_small.dcm")])


@pytest.mark.parametrize("name", MR_SMALL)
def test_every_encoding_of_mr_small_reads_the_same(name, mr_small_reference) -> None:
    series = load_series([_bundled(name)])
    assert series.volume.shape == (1, 256, 256)
    np.testing.assert_allclose(series.volume, mr_small_reference.volume, atol=1e-6)
    assert series.geometry == mr_small_reference.geometry
    assert series.info.in_plane == "resampled" and series.info.orientation == "axial"
    assert series.info.rows == series.info.columns == 64
    assert 127.0 <= series.info.intensity_scale[0] < 200.0  # raw minimum 127, interpolated
    warnings = " ".join(series.warnings)
    assert "64×64 was resampled" in warnings and "series is axial" in warnings
    assert "single slice" in warnings


@pytest.mark.parametrize("name", EMRI_SMALL)
def test_emri_small_multiframe_files(name) -> None:
    source = _bundled(name)  # skips unless pydicom-data is installed locally
    try:
        series = load_series([source])
    except InvalidInput as e:  # a legacy multi-frame file without per-frame positions
        assert "frames" in str(e)
    else:
        assert series.volume.shape[1:] == (256, 256)


def test_truncated_mr_is_refused_naming_the_file() -> None:
    with pytest.raises(InvalidInput, match=r"dicom_files\[0\]: 'MR_truncated.dcm' is "
                       r"truncated: its last element \(7FE0,0010\) should hold 8192 bytes but "
                       r"the file ends after 8130"):
        load_series([_bundled("MR_truncated.dcm")])


def _all_bundled_files() -> list[Path]:
    return sorted(p for p in TEST_FILES.rglob("*") if p.is_file())


def _modality(path: Path) -> str | None:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # zipMR.gz: ingestion unpacks gzip, so read it unpacked here
        data = gzip.decompress(data)
    try:
        return str(pydicom.dcmread(BytesIO(data), force=True, stop_before_pixels=True)
                   .get("Modality"))
    except Exception:
        return None


@pytest.mark.filterwarnings("ignore")
def test_every_bundled_file_is_read_or_refused_with_invalid_input() -> None:
    outcomes = {"read": 0, "refused": 0}
    mr_read = []
    for path in _all_bundled_files():
        source = DicomSource(path.name, path.read_bytes())
        try:
            series = load_series([source], options=IngestOptions(model_max_slices=64))
        except InvalidInput as e:
            outcomes["refused"] += 1
            assert e.violations and all(v.description for v in e.violations)
            continue
        outcomes["read"] += 1
        assert _modality(path) == "MR"
        assert series.volume.dtype == np.float32 and series.volume.shape[1:] == (256, 256)
        mr_read.append(path.name)
    assert {"MR_small.dcm", "examples_overlay.dcm"} <= set(mr_read)
    assert outcomes["refused"] > 50


@pytest.mark.filterwarnings("ignore")
def test_bundled_mr_files_with_pixels_read_alone() -> None:
    mr = [p for p in _all_bundled_files() if _modality(p) == "MR" and "truncated" not in p.name]
    assert len(mr) >= 20
    projections = []
    for path in mr:
        try:
            series = load_series([DicomSource(path.name, path.read_bytes())])
        except UnsupportedSeriesError as e:  # a MIP: DERIVED\SECONDARY\PROJECTION IMAGE
            assert "a derived map or projection" in str(e), path.name
            projections.append(path.parent.name)
            continue
        assert series.info.modality == "MR"
    assert projections and set(projections) == {"MR700"}  # the study's ANGIO projections


@pytest.mark.filterwarnings("ignore")
def test_a_real_study_folder_with_dicomdir_and_several_series(tmp_path: Path) -> None:
    folder = TEST_FILES / "dicomdirtests"
    # the folder holds several patients' studies: refused as a whole, naming no identifier
    with pytest.raises(InvalidInput, match=r"the upload holds images of [2-9] patients"):
        load_series_from_path(folder)
    # one of its studies (a 3-plane localizer, a pilot, an angiographic projection): the
    # series that cannot be used are set aside, with the reason
    for path in folder.rglob("*"):
        if path.is_file() and "DICOMDIR" not in path.name and path.suffix != ".txt":
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            if str(ds.get("SeriesDescription", "")).startswith(("ANGIO", "T/S/C", "FAST")) \
                    and str(ds.get("StudyInstanceUID", "")).endswith("8148.0.1"):
                (tmp_path / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())
    with pytest.raises(InvalidInput) as info:
        load_series_from_path(tmp_path, options=IngestOptions(strict_single_series=True))
    assert "image series but exactly one is expected" in str(info.value)
    series = load_series_from_path(tmp_path)
    assert series.info.modality == "MR"
    [note] = [w for w in series.warnings if w.startswith("the upload holds 3 image series")]
    set_aside = note.split("; set aside: ")[1]
    assert "series 2 'T/S/C RF FAST PILOT' (MR, axial, 3 slices): the series holds images in " \
           "3 orientations (sagittal, coronal, axial): a localizer" in set_aside  # 3-plane
    assert "'ANGIO Projected from   C'" in set_aside and "projection" in set_aside
