"""The series writer: valid MR datasets, exact pixels, geometry, and compressed copies."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
)

from cervixai.dicom.writer import (
    PatientIdentity,
    encodable_transfer_syntaxes,
    enhanced_dataset,
    series_datasets,
    write_series,
)


def _reread(kit, ds) -> pydicom.Dataset:
    return pydicom.dcmread(BytesIO(kit.to_bytes(ds)), force=False)


def test_datasets_are_valid_mr_image_storage(kit) -> None:
    volume = kit.phantom(depth=3)
    datasets = series_datasets(volume, spacing_mm=(4.0, 0.7, 0.9))
    assert len(datasets) == 3
    assert len({ds.SOPInstanceUID for ds in datasets}) == 3
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    for k, ds in enumerate(datasets):
        again = _reread(kit, ds)
        assert again.SOPClassUID == MRImageStorage == again.file_meta.MediaStorageSOPClassUID
        assert again.file_meta.MediaStorageSOPInstanceUID == again.SOPInstanceUID
        assert again.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert again.Modality == "MR" and again.PhotometricInterpretation == "MONOCHROME2"
        assert again.BitsAllocated == 16 and again.SamplesPerPixel == 1
        assert [float(v) for v in again.ImageOrientationPatient] == [1, 0, 0, 0, 0, -1]
        assert [float(v) for v in again.PixelSpacing] == [0.7, 0.9]
        assert float(again.SliceThickness) == 4.0 and again.InstanceNumber == k + 1
        np.testing.assert_array_equal(again.pixel_array, volume[k])
    first, last = (np.array([float(v) for v in ds.ImagePositionPatient])
                   for ds in (datasets[0], datasets[-1]))
    np.testing.assert_allclose(last - first, (0.0, 8.0, 0.0))  # coronal: along +y


@pytest.mark.parametrize(("orientation", "normal"), [
    ("coronal", (0, 1, 0)), ("axial", (0, 0, 1)), ("sagittal", (-1, 0, 0)),
])
def test_slices_step_along_the_normal(kit, orientation, normal) -> None:
    datasets = series_datasets(kit.phantom(depth=2), orientation=orientation)
    step = np.subtract(*(np.array([float(v) for v in ds.ImagePositionPatient])
                         for ds in datasets[::-1]))
    np.testing.assert_allclose(step, np.multiply(normal, 5.0))


def test_float_volumes_are_quantised_with_rescale(kit) -> None:
    volume = np.linspace(-3.0, 7.0, 2 * 64 * 64).reshape(2, 64, 64)
    datasets = series_datasets(volume)
    slope, intercept = float(datasets[0].RescaleSlope), float(datasets[0].RescaleIntercept)
    restored = np.stack([_reread(kit, ds).pixel_array * slope + intercept for ds in datasets])
    assert np.abs(restored - volume).max() <= slope / 2 + 1e-9


def test_integer_rescale_and_signed_pixels(kit) -> None:
    volume = np.arange(-100, 100, dtype=np.int16).reshape(2, 10, 10)
    [ds, _] = series_datasets(volume, rescale=(0.5, 3.0))
    again = _reread(kit, ds)
    assert again.PixelRepresentation == 1
    assert (float(again.RescaleSlope), float(again.RescaleIntercept)) == (0.5, 3.0)
    np.testing.assert_array_equal(again.pixel_array, volume[0])


def test_monochrome1_stores_mirrored_values(kit) -> None:
    volume = kit.phantom(depth=1)
    [ds] = series_datasets(volume, photometric="MONOCHROME1")
    stored = _reread(kit, ds).pixel_array.astype(int)
    np.testing.assert_array_equal(stored, int(volume.max()) + int(volume.min()) - volume[0])


def test_patient_identity_is_written(kit) -> None:
    identity = PatientIdentity(name="TEST^ONE", patient_id="X1",
                               extra=(("OtherPatientIDs", "X2"),))
    [ds] = series_datasets(kit.phantom(depth=1), patient=identity)
    again = _reread(kit, ds)
    assert (str(again.PatientName), again.PatientID, again.OtherPatientIDs) == \
        ("TEST^ONE", "X1", "X2")


def test_required_encoders_are_available() -> None:
    # RLE (pydicom itself) and JPEG 2000 (pylibjpeg-openjpeg) are project dependencies;
    # JPEG-LS needs the optional pyjpegls.
    assert {RLELossless, JPEG2000Lossless, ExplicitVRLittleEndian, ImplicitVRLittleEndian,
            DeflatedExplicitVRLittleEndian} <= set(encodable_transfer_syntaxes())


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, JPEGLSLossless,
                                    DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_compressed_copies_round_trip_exactly(kit, syntax) -> None:
    if syntax not in encodable_transfer_syntaxes():
        pytest.skip(f"no encoder for {syntax.name} is installed")
    volume = kit.phantom(depth=2, rows=64, columns=64)
    for k, ds in enumerate(series_datasets(volume, transfer_syntax=syntax)):
        again = _reread(kit, ds)
        assert again.file_meta.TransferSyntaxUID == syntax
        np.testing.assert_array_equal(again.pixel_array, volume[k])


def test_unsupported_syntaxes_are_refused(kit) -> None:
    with pytest.raises(ValueError, match="cannot encode JPEG Baseline"):
        series_datasets(kit.phantom(depth=1), transfer_syntax=JPEGBaseline8Bit)


def test_enhanced_dataset_holds_frames_in_the_given_order(kit) -> None:
    volume = kit.phantom(depth=3)
    ds = _reread(kit, enhanced_dataset(volume, frame_order=[2, 0, 1]))
    assert ds.SOPClassUID == EnhancedMRImageStorage and ds.NumberOfFrames == 3
    np.testing.assert_array_equal(ds.pixel_array, volume[[2, 0, 1]])
    positions = [[float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
                 for item in ds.PerFrameFunctionalGroupsSequence]
    assert [p[1] for p in positions] == [-50.0, -60.0, -55.0]
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [0.8, 0.8]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"volume": np.zeros((4, 4))}, r"volume must be \(depth, rows, columns\)"),
    ({"orientation": "diagonal"}, "orientation must be one of"),
    ({"orientation": (1, 0, 0)}, "six numbers"),
    ({"photometric": "RGB"}, "MONOCHROME1 or MONOCHROME2"),
    ({"volume": np.zeros((1, 4, 4)), "rescale": (1.0, 0.0)}, "float volumes are quantised"),
])
def test_bad_arguments(kit, kwargs, message) -> None:
    volume = kwargs.pop("volume", kit.phantom(depth=1, rows=8, columns=8))
    with pytest.raises(ValueError, match=message):
        series_datasets(volume, **kwargs)


def test_write_series_returns_paths_in_slice_order(kit, tmp_path) -> None:
    volume = kit.phantom(depth=3, rows=32, columns=32)
    paths = write_series(volume, tmp_path / "out", file_name="slice_{index}.dcm")
    assert [p.name for p in paths] == ["slice_0.dcm", "slice_1.dcm", "slice_2.dcm"]
    for k, path in enumerate(paths):
        np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, volume[k])
    [single] = write_series(volume, tmp_path / "mf", enhanced=True)
    assert pydicom.dcmread(single).NumberOfFrames == 3
