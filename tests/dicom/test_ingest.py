"""load_series: series selection, slice order, checks between slices, pixels and intensities."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from cervixai.dicom import (
    DicomSource,
    InconsistentSeriesError,
    IngestOptions,
    NotDicomError,
    PixelDataError,
    UnsupportedSeriesError,
    UploadError,
    load_series,
)
from cervixai.dicom.writer import encodable_transfer_syntaxes, enhanced_dataset, series_datasets
from cervixai.errors import InvalidInput


def _fields(error: InvalidInput) -> list[str]:
    return [v.field for v in error.violations]


def test_a_series_becomes_a_normalised_volume(kit) -> None:
    volume = kit.phantom(depth=5)
    series = load_series(kit.as_sources(series_datasets(volume)))
    assert series.volume.shape == (5, 256, 256)
    assert series.volume.dtype == np.float32 and series.volume.flags.c_contiguous
    assert series.volume.min() >= 0.0 and series.volume.max() <= 1.0
    np.testing.assert_allclose(series.volume, kit.normalised(volume), atol=1e-6)
    assert series.info.in_plane == "as-is" and series.info.orientation == "coronal"
    assert series.info.number_of_slices == 5 and series.info.modality == "MR"
    assert series.info.intensity_scale == (float(volume.min()),
                                           pytest.approx(np.percentile(volume, 99.5)))
    assert series.geometry.spacing_mm == (5.0, 0.8, 0.8)
    assert series.warnings == ()


def test_slices_are_ordered_by_position_not_file_order_names_or_instance_number(kit) -> None:
    volume = kit.phantom(depth=6, seed=3)
    datasets = series_datasets(volume)
    for ds in datasets:
        ds.InstanceNumber = 100 - ds.InstanceNumber  # reversed, as some exporters do
    shuffled = list(range(6))
    random.Random(7).shuffle(shuffled)
    names = [f"IM{5 - k:04d}.dcm" for k in shuffled]  # misleading: sorted names ≠ space order
    sources = kit.as_sources([datasets[k] for k in shuffled], names)
    series = load_series(sources)
    np.testing.assert_array_equal(series.volume, load_series(kit.as_sources(datasets)).volume)
    np.testing.assert_allclose(series.volume, kit.normalised(volume), atol=1e-6)


@pytest.mark.parametrize(("orientation", "label"), [
    ("coronal", "coronal"),
    ("axial", "axial"),
    ("sagittal", "sagittal"),
    ((0.866025, 0.5, 0.0, 0.0, 0.0, -1.0), "coronal"),  # normal (−0.5, 0.87, 0): tilted 30°
    ((0.5, 0.866025, 0.0, 0.0, 0.0, -1.0), "sagittal"),  # normal (−0.87, 0.5, 0)
    ((0.7071068, 0.7071068, 0.0, 0.0, 0.0, -1.0), "oblique"),  # normal (−0.71, 0.71, 0)
])
def test_orientation_label_and_warning(kit, orientation, label) -> None:
    series = load_series(kit.sources(depth=3, orientation=orientation))
    assert series.info.orientation == label
    warned = [w for w in series.warnings if "the models were trained on coronal series" in w]
    assert warned == ([] if label == "coronal" else
                      [f"series is {label}; the models were trained on coronal series"])


def test_orientation_threshold_is_0_8() -> None:
    from cervixai.dicom import orientation_label

    assert orientation_label((0.0, 0.8, 0.6)) == "coronal"
    assert orientation_label((0.0, 0.79, 0.613)) == "oblique"
    assert orientation_label((0.0, 0.0, -1.0)) == "axial"
    assert orientation_label((-1.0, 0.0, 0.0)) == "sagittal"


# --- several series --------------------------------------------------------------------------

def _series(kit, number, description, *, depth=3, seed=0, **options):
    return series_datasets(kit.phantom(depth=depth, seed=seed), series_number=number,
                           series_description=description, **options)


@pytest.mark.parametrize(("preferred", "other"), [
    # (series options of the one that must win, of the one that must lose; the loser has more
    # slices, so only the rule's earlier criterion can make it lose)
    ({"modality": "MR"}, {"modality": "CT"}),
    ({"orientation": "coronal"}, {"orientation": "axial"}),
    ({"series_description": "COR T2 FS"}, {"series_description": "COR T1 FS",
                                           "echo_time_ms": 12.0}),
    ({"series_description": "COR FSE", "echo_time_ms": 95.0},
     {"series_description": "COR FSE", "echo_time_ms": 15.0}),
    ({"series_description": "COR T2 SPAIR", "scan_options": ""},
     {"series_description": "COR T2", "scan_options": ""}),
    ({"series_description": "COR T2", "scan_options": "FS"},
     {"series_description": "COR T2 FSE", "scan_options": "PFP"}),
])
def test_series_choice_follows_the_documented_rule(kit, preferred, other) -> None:
    winner = series_datasets(kit.phantom(depth=3, seed=1), series_number=7, **preferred)
    loser = series_datasets(kit.phantom(depth=5, seed=2), series_number=8, **other)
    series = load_series(kit.as_sources(loser + winner))
    assert series.info.series_number == 7
    assert series.volume.shape[0] == 3
    [warning] = [w for w in series.warnings if "image series" in w]
    assert "used series 7" in warning and "series 8" in warning.split("used series 7")[1]


def test_most_slices_breaks_the_tie(kit) -> None:
    small = _series(kit, 3, "COR T2 FS", depth=3)
    large = _series(kit, 4, "COR T2 FS", depth=5)
    assert load_series(kit.as_sources(small + large)).info.series_number == 4


def test_strict_mode_lists_every_series_without_uids(kit) -> None:
    coronal = _series(kit, 3, "COR T2 FS", depth=3)
    axial = _series(kit, 4, "AX T1", depth=4, orientation="axial")
    options = IngestOptions(strict_single_series=True)
    with pytest.raises(UnsupportedSeriesError, match="holds 2 image series") as info:
        load_series(kit.as_sources(coronal + axial), options=options)
    message = str(info.value)
    assert "series 3 'COR T2 FS' (MR, coronal, 3 slices)" in message
    assert "series 4 'AX T1' (MR, axial, 4 slices)" in message
    assert coronal[0].SeriesInstanceUID not in message and "1.2.826" not in message
    assert _fields(info.value) == ["series"]


def test_non_image_objects_are_skipped_with_a_warning(kit) -> None:
    report = series_datasets(kit.phantom(depth=1))[0]
    del report.PixelData, report.Rows, report.Columns
    report.Modality = "SR"
    report.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    report.file_meta.MediaStorageSOPClassUID = report.SOPClassUID
    sources = [*kit.sources(depth=3), DicomSource("report.dcm", kit.to_bytes(report))]
    series = load_series(sources)
    assert series.volume.shape[0] == 3
    assert any("skipped 1 DICOM object(s) without an image: 'report.dcm (SR)'" in w
               for w in series.warnings)
    with pytest.raises(UnsupportedSeriesError, match=r"none of the 1 files holds an image "
                       r"\(found: SR\)"):
        load_series(sources[-1:])


# --- modality, colour, counts ----------------------------------------------------------------

def test_ct_is_refused_naming_the_modality(kit) -> None:
    with pytest.raises(UnsupportedSeriesError,
                       match="modality CT is not supported; cervixai needs an MR series"):
        load_series(kit.sources(modality="CT"))


def test_missing_modality_is_refused(kit) -> None:
    datasets = kit.datasets(depth=2)
    for ds in datasets:
        del ds.Modality
    with pytest.raises(UnsupportedSeriesError, match=r"Modality \(0008,0060\) is missing"):
        load_series(kit.as_sources(datasets))


def test_colour_images_are_refused(kit) -> None:
    datasets = kit.datasets(depth=2)
    for ds in datasets:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
    with pytest.raises(UnsupportedSeriesError, match="is a colour image"):
        load_series(kit.as_sources(datasets))


@pytest.mark.parametrize(("depth", "options", "message"), [
    (5, IngestOptions(model_max_slices=4), "the series has 5 slices but the segmentation "
     r"model takes at most 4 \(a limit of the model, not of DICOM ingestion\)"),
    (2, IngestOptions(min_slices=3), r"the series has 2 slice\(s\); at least 3 are needed"),
])
def test_slice_count_limits(kit, depth, options, message) -> None:
    with pytest.raises(UnsupportedSeriesError, match=message):
        load_series(kit.sources(depth=depth), options=options)


def test_no_files_is_refused() -> None:
    with pytest.raises(UploadError, match="no files were sent"):
        load_series([])


# --- consistency between slices --------------------------------------------------------------

@pytest.mark.parametrize(("attribute", "value", "message"), [
    ("PixelSpacing", ["0.9", "0.8"], r"PixelSpacing differs between 'IM0002.dcm' \(0.9, 0.8\)"),
    ("ImageOrientationPatient", ["1", "0", "0", "0", "0.0998", "-0.995"],
     "ImageOrientationPatient differs between 'IM0002.dcm'"),
])
def test_slices_must_share_spacing_and_orientation(kit, attribute, value, message) -> None:
    datasets = kit.datasets(depth=4)
    setattr(datasets[2], attribute, value)
    with pytest.raises(InconsistentSeriesError, match=message) as info:
        load_series(kit.as_sources(datasets))
    assert _fields(info.value) == ["dicom_files[2]"]


def test_tiny_spacing_and_orientation_differences_are_tolerated(kit) -> None:
    datasets = kit.datasets(depth=3)
    datasets[1].PixelSpacing = ["0.8004", "0.8"]  # 5e-4 relative
    datasets[2].ImageOrientationPatient = ["1", "0", "0", "0", "0.00005", "-1"]
    assert load_series(kit.as_sources(datasets)).volume.shape[0] == 3


def test_slices_must_share_the_matrix(kit) -> None:
    datasets = kit.datasets(depth=3)
    bigger = kit.datasets(depth=3, rows=320, columns=320,
                          series_uid=datasets[0].SeriesInstanceUID)
    mixed = [datasets[0], datasets[1], bigger[2]]
    with pytest.raises(InconsistentSeriesError,
                       match=r"Rows is 320 in 'IM0002.dcm' but 256 in 'IM0000.dcm'"):
        load_series(kit.as_sources(mixed))


@pytest.mark.parametrize("keyword", ["ImagePositionPatient", "ImageOrientationPatient",
                                     "PixelSpacing"])
def test_multi_slice_series_need_geometry(kit, keyword) -> None:
    datasets = kit.datasets(depth=3)
    delattr(datasets[1], keyword)
    with pytest.raises(InconsistentSeriesError, match=f"{keyword} .* is missing from "
                       f"'IM0001.dcm'") as info:
        load_series(kit.as_sources(datasets))
    assert _fields(info.value) == ["dicom_files[1]"]


def test_single_slice_falls_back_with_warnings(kit) -> None:
    [ds] = kit.datasets(depth=1)
    del ds.ImagePositionPatient, ds.PixelSpacing
    series = load_series(kit.as_sources([ds]))
    assert series.geometry.spacing_mm == (5.0, 1.0, 1.0)
    assert any("SliceThickness (5 mm)" in w for w in series.warnings)
    assert any("PixelSpacing is missing" in w for w in series.warnings)
    assert any("origin was set to (0, 0, 0)" in w for w in series.warnings)


@pytest.mark.parametrize(("change", "message"), [
    ("same-file", "same SOPInstanceUID"),
    ("echo", r"EchoNumbers differ \(1 vs 2\): this is a multi-echo series"),
    ("temporal", r"TemporalPositionIdentifier differ \(1 vs 2\): this is a dynamic"),
    ("other", "holds two images at one position"),
])
def test_two_slices_at_one_position_are_explained(kit, change, message) -> None:
    datasets = kit.datasets(depth=3)
    twin = kit.datasets(depth=3, seed=5, series_uid=datasets[0].SeriesInstanceUID)[1]
    if change == "same-file":
        twin = datasets[1]
    elif change == "echo":
        twin.EchoNumbers = 2
    elif change == "temporal":
        datasets[1].TemporalPositionIdentifier = 1
        twin.TemporalPositionIdentifier = 2
    with pytest.raises(InconsistentSeriesError, match=message) as info:
        load_series(kit.as_sources([*datasets, twin]))
    assert "lies at the same position as" in str(info.value)


def _shift(ds, mm):
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    ds.ImagePositionPatient = [f"{x:g}", f"{y + mm:g}", f"{z:g}"]


def test_slightly_uneven_gaps_warn(kit) -> None:
    datasets = kit.datasets(depth=5)
    _shift(datasets[2], 1.0)  # gaps 5, 6, 4, 5
    series = load_series(kit.as_sources(datasets))
    assert series.geometry.spacing_mm[0] == 5.0
    assert any("non-uniform slice spacing: gaps between consecutive slices range from 4.00 "
               "to 6.00 mm (median 5.00 mm)" in w for w in series.warnings)


def test_a_missing_slice_is_refused(kit) -> None:
    datasets = kit.datasets(depth=6)
    del datasets[3]
    with pytest.raises(InconsistentSeriesError, match=r"inconsistent slice spacing: .* from 5.00 "
                       r"to 10.00 mm .* between 'IM0002.dcm' and 'IM0003.dcm'") as info:
        load_series(kit.as_sources(datasets))
    assert _fields(info.value) == ["series"]


def test_spacing_between_slices_is_not_trusted_over_positions(kit) -> None:
    series = load_series(kit.sources(depth=3, attributes={"SpacingBetweenSlices": "9"}))
    assert series.geometry.spacing_mm[0] == 5.0


# --- pixels ----------------------------------------------------------------------------------

def test_missing_pixel_data_is_refused(kit) -> None:
    datasets = kit.datasets(depth=3)
    del datasets[1].PixelData
    with pytest.raises(NotDicomError, match="'IM0001.dcm' is an image of the series "
                       r"\(MR Image Storage without pixel data\); the file is truncated"):
        load_series(kit.as_sources(datasets))


def test_all_zero_slice_is_refused(kit) -> None:
    datasets = kit.datasets(depth=3)
    datasets[2].PixelData = bytes(len(datasets[2].PixelData))
    with pytest.raises(PixelDataError, match=r"pixel data of 'IM0002.dcm' decoded to all zeros"):
        load_series(kit.as_sources(datasets))


def test_constant_volume_is_refused(kit) -> None:
    with pytest.raises(PixelDataError, match=r"every voxel of the series has the same value "
                       r"\(7\)"):
        load_series(kit.as_sources(series_datasets(np.full((3, 256, 256), 7, np.uint16))))


def test_non_finite_values_after_rescale_are_refused(kit) -> None:
    datasets = kit.datasets(depth=2, rescale=(1e308, 0.0))
    with pytest.raises(PixelDataError, match="not finite"):
        load_series(kit.as_sources(datasets))


def test_non_finite_float_pixel_data_is_refused(kit) -> None:
    datasets = kit.datasets(depth=2)
    for k, ds in enumerate(datasets):
        values = np.linspace(0, 100, 256 * 256, dtype=np.float32).reshape(256, 256)
        values[10, 10] = np.nan if k == 1 else 5.0
        del ds.PixelData, ds.PixelRepresentation
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
        ds.FloatPixelData = values.tobytes()
    with pytest.raises(PixelDataError, match=r"pixel data of 'IM0001.dcm' holds values that are "
                       r"not finite"):
        load_series(kit.as_sources(datasets))
    series = load_series(kit.as_sources(datasets[:1]))  # the finite one reads
    assert series.volume.shape == (1, 256, 256)


def test_monochrome1_is_inverted(kit) -> None:
    volume = kit.phantom(depth=3, seed=4)
    plain = load_series(kit.as_sources(series_datasets(volume)))
    inverted = load_series(kit.as_sources(series_datasets(volume, photometric="MONOCHROME1")))
    assert inverted.info.photometric_interpretation == "MONOCHROME1"
    np.testing.assert_allclose(inverted.volume, plain.volume, atol=1e-6)


def test_rescale_slope_and_intercept_are_applied_per_slice(kit) -> None:
    volume = kit.phantom(depth=3, seed=2)
    datasets = series_datasets(volume, rescale=(2.0, -100.0))
    datasets[1].RescaleSlope = "0.5"  # a per-slice scale, as some scanners write
    series = load_series(kit.as_sources(datasets))
    real = volume.astype(np.float64) * 2.0 - 100.0
    real[1] = volume[1] * 0.5 - 100.0
    np.testing.assert_allclose(series.volume, kit.normalised(real), atol=1e-6)
    assert series.info.intensity_scale[0] == real.min()


def test_bright_outliers_do_not_compress_the_scale(kit) -> None:
    volume = kit.phantom(depth=3)
    volume[1, 5, 5] = 60000
    series = load_series(kit.as_sources(series_datasets(volume)))
    assert series.info.intensity_scale[1] < 2000
    assert series.volume[1, 5, 5] == 1.0
    assert np.median(series.volume) > 0.05


@pytest.mark.parametrize("syntax", [
    RLELossless, JPEG2000Lossless, JPEGLSLossless, DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
])
def test_compressed_copies_decode_to_the_same_volume(kit, syntax) -> None:
    if syntax not in encodable_transfer_syntaxes():
        pytest.skip(f"no encoder for {syntax.name} is installed")
    volume = kit.phantom(depth=3, seed=6)
    plain = load_series(kit.as_sources(series_datasets(volume)))
    packed = load_series(kit.as_sources(series_datasets(volume, transfer_syntax=syntax)))
    np.testing.assert_array_equal(packed.volume, plain.volume)
    assert packed.info.transfer_syntax_uids == (str(syntax),)
    assert packed.info.transfer_syntax_names == (syntax.name,)


def test_undecodable_pixel_data_names_the_transfer_syntax(kit) -> None:
    datasets = kit.datasets(depth=2, transfer_syntax=RLELossless)
    datasets[0].file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2
    with pytest.raises(PixelDataError, match=r"1.2.840.10008.1.2.4.100 \(MPEG2 Main Profile / "
                       r"Main Level\), which cervixai cannot decode"):
        load_series(kit.as_sources(datasets))


def test_damaged_compressed_pixel_data_is_refused(kit) -> None:
    datasets = kit.datasets(depth=2, transfer_syntax=RLELossless)
    # an RLE header announcing two segments, the second far beyond the end of the fragment
    header = struct.pack("<16I", 2, 64, 1_000_000, *[0] * 13)
    datasets[1].PixelData = encapsulate([header + b"\x00\x7f" * 100])
    with pytest.raises(PixelDataError, match=r"'IM0001.dcm' \(transfer syntax "
                       r"1.2.840.10008.1.2.5 \(RLE Lossless\)\) cannot be decoded"):
        load_series(kit.as_sources(datasets))


# --- enhanced multi-frame --------------------------------------------------------------------

@pytest.mark.parametrize("per_frame_geometry", [False, True])
def test_enhanced_multiframe_equals_the_single_frame_series(kit, per_frame_geometry) -> None:
    volume = kit.phantom(depth=5, seed=8)
    classic = load_series(kit.as_sources(series_datasets(volume, rescale=(1.5, 10.0))))
    enhanced = enhanced_dataset(volume, rescale=(1.5, 10.0), frame_order=[3, 0, 4, 1, 2],
                                per_frame_geometry=per_frame_geometry)
    series = load_series([DicomSource("enhanced.dcm", kit.to_bytes(enhanced))])
    np.testing.assert_array_equal(series.volume, classic.volume)
    assert series.geometry == classic.geometry
    assert series.info.sop_class == "Enhanced MR Image Storage"
    assert series.info.echo_time_ms == 90.0 and series.info.repetition_time_ms == 4000.0
    assert series.info.intensity_scale == classic.info.intensity_scale


def test_enhanced_frames_without_positions_are_refused(kit) -> None:
    enhanced = enhanced_dataset(kit.phantom(depth=3))
    del enhanced.PerFrameFunctionalGroupsSequence[1:]
    with pytest.raises(NotDicomError, match="holds 3 frames but its "
                       "PerFrameFunctionalGroupsSequence has 1 items"):
        load_series([DicomSource("enhanced.dcm", kit.to_bytes(enhanced))])


def test_enhanced_duplicate_positions_name_the_frames(kit) -> None:
    enhanced = enhanced_dataset(kit.phantom(depth=3))
    frames = enhanced.PerFrameFunctionalGroupsSequence
    frames[2].PlanePositionSequence[0].ImagePositionPatient = \
        frames[1].PlanePositionSequence[0].ImagePositionPatient
    with pytest.raises(InconsistentSeriesError, match=r"frame 3 of 'mf.dcm' lies at the same "
                       r"position as frame 2 of 'mf.dcm'"):
        load_series([DicomSource("mf.dcm", kit.to_bytes(enhanced))])


# --- unreadable files ------------------------------------------------------------------------

def test_every_unreadable_file_is_reported_at_once(kit) -> None:
    sources = kit.sources(depth=3)
    sources[1] = DicomSource("notes.dcm", b"these are not pixels" * 20)
    sources.append(DicomSource("empty.dcm", b""))
    with pytest.raises(NotDicomError) as info:
        load_series(sources)
    assert _fields(info.value) == ["dicom_files[1]", "dicom_files[3]"]
    assert "'notes.dcm' is not a DICOM file" in str(info.value)
    assert "'empty.dcm' is empty (0 bytes)" in str(info.value)


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.999])
def test_truncated_files_are_refused_naming_the_file(kit, keep) -> None:
    sources = kit.sources(depth=3)
    data = sources[2].data
    sources[2] = DicomSource(sources[2].name, data[:int(len(data) * keep)])
    with pytest.raises(InvalidInput, match=r"'IM0002.dcm' .*truncated") as info:
        load_series(sources)
    assert _fields(info.value) == ["dicom_files[2]"]


def test_files_without_preamble_or_file_meta_are_read(kit) -> None:
    datasets = kit.datasets(depth=3)
    no_preamble = kit.to_bytes(datasets[0], preamble=False)
    bare = datasets[1]
    del bare.file_meta
    from io import BytesIO

    buffer = BytesIO()
    bare.save_as(buffer, implicit_vr=True, little_endian=True)
    sources = [DicomSource("a", no_preamble), DicomSource("b", buffer.getvalue()),
               DicomSource("c", kit.to_bytes(datasets[2]))]
    assert buffer.getvalue()[128:132] != b"DICM"
    series = load_series(sources)
    np.testing.assert_array_equal(series.volume, load_series(kit.as_sources(
        kit.datasets(depth=3))).volume)


def test_unreadable_geometry_values_name_the_attribute(kit) -> None:
    datasets = kit.datasets(depth=3)
    datasets[1].ImagePositionPatient = ["1", "nan", "3"]
    with pytest.raises(NotDicomError, match=r"ImagePositionPatient of 'IM0001.dcm' holds a value "
                       r"that is not a finite number"):
        load_series(kit.as_sources(datasets))


def test_upload_limits_apply_to_sources(kit) -> None:
    from cervixai.dicom import IngestLimits

    options = IngestOptions(limits=IngestLimits(max_files=2))
    with pytest.raises(UploadError, match="3 files were sent; the limit is 2"):
        load_series(kit.sources(depth=3), options=options)


def test_series_without_uid_are_grouped_together(kit) -> None:
    datasets = kit.datasets(depth=3)
    for ds in datasets:
        del ds.SeriesInstanceUID
    assert load_series(kit.as_sources(datasets)).volume.shape[0] == 3


def test_uids_of_other_series_do_not_mix(kit) -> None:
    datasets = kit.datasets(depth=3)
    datasets[2].SeriesInstanceUID = generate_uid()
    series = load_series(kit.as_sources(datasets))
    assert series.volume.shape[0] == 2
    assert any("2 image series" in w for w in series.warnings)


def test_sideways_drift_between_slices_warns(kit) -> None:
    datasets = kit.datasets(depth=3)
    x, y, z = (float(v) for v in datasets[2].ImagePositionPatient)
    datasets[2].ImagePositionPatient = [f"{x + 2:g}", f"{y:g}", f"{z:g}"]
    series = load_series(kit.as_sources(datasets))
    assert any("slice positions drift in-plane by up to 2.00 mm" in w for w in series.warnings)


def test_mosaic_images_are_refused(kit) -> None:
    datasets = kit.datasets(depth=2, attributes={"ImageType": ["ORIGINAL", "PRIMARY", "M",
                                                              "MOSAIC"]})
    with pytest.raises(UnsupportedSeriesError, match=r"'IM0000.dcm' is a mosaic image"):
        load_series(kit.as_sources(datasets))


def test_compressed_pixels_without_transfer_syntax_are_refused(kit) -> None:
    [ds] = kit.datasets(depth=1, transfer_syntax=RLELossless)
    data = bytearray(kit.to_bytes(ds))
    at = data.find(b"1.2.840.10008.1.2.5\x00")  # the TransferSyntaxUID value in the file meta
    data[at - 8:at - 8 + 4] = b"\x02\x00\x11\x00"  # retag it (0002,0011), a group-2 unknown
    with pytest.raises(NotDicomError, match=r"holds compressed pixel data but no "
                       r"TransferSyntaxUID \(0002,0010\)"):
        load_series([DicomSource("x.dcm", bytes(data))])


def test_oversized_frames_are_refused_before_decoding(kit) -> None:
    from cervixai.dicom import IngestLimits

    options = IngestOptions(limits=IngestLimits(max_pixels_per_frame=100 * 100))
    with pytest.raises(PixelDataError, match=r"the 256×256 matrix of 'IM0000.dcm' exceeds the "
                       r"limit of 10000 pixels per frame"):
        load_series(kit.sources(depth=1), options=options)


def test_enhanced_per_frame_rescale_is_applied(kit) -> None:
    volume = kit.phantom(depth=3, seed=9)
    enhanced = enhanced_dataset(volume, per_frame_geometry=True)
    frames = enhanced.PerFrameFunctionalGroupsSequence
    frames[1].PixelValueTransformationSequence[0].RescaleSlope = "3"
    series = load_series([DicomSource("mf.dcm", kit.to_bytes(enhanced))])
    real = volume.astype(np.float64)
    real[1] *= 3
    np.testing.assert_allclose(series.volume, kit.normalised(real), atol=1e-6)
