"""Whole studies as hospitals send them: the usable series chosen, the rest set aside with a
reason; 4-D series, non-image objects, long 3-D series, gzip, lossy pixels, pydicom's noise."""

from __future__ import annotations

import gzip
import io
import logging
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSNearLossless,
    generate_uid,
)

from cervixai.dicom import (
    DicomSource,
    InconsistentSeriesError,
    IngestLimits,
    IngestOptions,
    NotDicomError,
    UnsupportedSeriesError,
    UploadError,
    load_series,
    load_series_from_path,
    sources_from_zip,
)
from cervixai.dicom.quiet import pydicom_message_counts
from cervixai.dicom.writer import enhanced_dataset, series_datasets
from cervixai.errors import InvalidInput

SMALL = {"rows": 64, "columns": 64}


def _t2(kit, depth=6, number=3, **options):
    return kit.datasets(depth=depth, series_number=number, seed=number,
                        series_description="COR T2 TSE SPAIR", **SMALL, **options)


def _t1(kit, depth=7, number=2, **options):
    return kit.datasets(depth=depth, series_number=number, seed=number, orientation="axial",
                        series_description="AX T1 TSE", echo_time_ms=12.0,
                        repetition_time_ms=600.0, scan_options="", **SMALL, **options)


def _dwi(kit, depth=5, b_values=(0, 500, 1000), number=5, how="DiffusionBValue",
         mosaic=False):
    """One series of several b-values at the same positions, as scanners write them: the
    b-value in DiffusionBValue, GE's or Siemens' private element, or Siemens' SequenceName;
    AcquisitionNumber and TemporalPositionIdentifier varying too (which is not 'dynamic')."""
    uid = generate_uid()
    out = []
    for k, b in enumerate(b_values):
        attributes = {"ScanningSequence": "EP", "SequenceVariant": "SK\\SP",
                      "ImageType": ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
                      + (["MOSAIC"] if mosaic else []),
                      "AcquisitionNumber": k + 1, "TemporalPositionIdentifier": k + 1}
        if how == "DiffusionBValue":
            attributes["DiffusionBValue"] = b
        elif how == "SequenceName":
            attributes["SequenceName"] = f"*ep_b{b}t"
            del attributes["ImageType"][2]
        datasets = series_datasets(kit.phantom(depth, seed=10 + k, **SMALL), series_uid=uid,
                                   series_number=number, series_description="ep2d_diff_3b",
                                   echo_time_ms=69.0, repetition_time_ms=5200.0,
                                   scan_options="FS", attributes=attributes)
        for ds in datasets:
            if how == "GE":
                del ds.ImageType
                block = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
                block.add_new(0x39, "IS", [1_000_000_000 + b, 8, 0, 0])
        out += datasets
    return out


def _localizer(kit, number=1):
    uid = generate_uid()
    return [ds for k, orientation in enumerate(("sagittal", "coronal", "axial"))
            for ds in series_datasets(kit.phantom(1, seed=20 + k, **SMALL), series_uid=uid,
                                      orientation=orientation, series_number=number,
                                      series_description="localizer", echo_time_ms=4.0,
                                      repetition_time_ms=8.6, scan_options="",
                                      attributes={"ScanningSequence": "GR"})]


def _warning(series, start="the upload holds"):
    [warning] = [w for w in series.warnings if w.startswith(start)]
    return warning


def _uids(datasets):
    return {str(ds.SeriesInstanceUID) for ds in datasets} | {
        str(ds.SOPInstanceUID) for ds in datasets} | {str(ds.StudyInstanceUID) for ds in datasets}


# --- choosing among the series of a study ----------------------------------------------------

def test_a_study_reads_its_coronal_t2_and_says_why_each_other_series_was_not_used(kit) -> None:
    t1, t2, dwi, localizer = _t1(kit), _t2(kit), _dwi(kit), _localizer(kit)
    study = localizer + t1 + dwi + t2
    series = load_series(kit.as_sources(study))
    assert series.info.series_number == 3 and series.volume.shape[0] == 6
    assert {str(ds.SeriesInstanceUID) for ds in series.source.datasets} == \
        {str(t2[0].SeriesInstanceUID)}
    assert [int(ds.InstanceNumber) for ds in series.source.datasets] == list(range(1, 7))
    note = _warning(series)
    assert note.startswith("the upload holds 4 image series; used series 3 'COR T2 TSE "
                           "SPAIR' (MR, coronal, 6 slices; T2-weighted, fat-suppressed)")
    assert "usable but ranked lower: series 2 'AX T1 TSE' (MR, axial, 7 slices; not " \
           "T2-weighted)" in note
    assert "series 5 'ep2d_diff_3b' (MR, coronal, 15 slices): 15 images at 5 positions " \
           "(3 volumes)" in note
    assert "this is a diffusion series (b-values 0, 500, 1000 s/mm²)" in note
    assert "series 1 'localizer' (MR, sagittal, 3 slices): the series holds images in 3 " \
           "orientations (sagittal, coronal, axial): a localizer" in note
    for uid in _uids(study):
        assert uid not in " ".join(series.warnings)


def test_a_t1_is_read_when_the_other_series_is_a_dwi_mosaic(kit) -> None:
    """Issue #22: the DWI mosaic's TE of 69 ms made it 'T2-weighted' and refused the upload."""
    series = load_series(kit.as_sources(_dwi(kit, mosaic=True) + _t1(kit)))
    assert series.info.series_number == 2
    note = _warning(series)
    assert "set aside: series 5 'ep2d_diff_3b'" in note and "is a mosaic image" in note
    assert any(w.startswith("series 2 'AX T1 TSE' (MR, axial, 7 slices) is not T2-weighted by "
                            "its headers (EchoTime 12 ms, RepetitionTime 600 ms") for w in
               series.warnings)


@pytest.mark.parametrize(("t2_options", "other_options"), [
    # a long TE alone is not T2 weighting: an EPI, a gradient echo, a short TR all lose
    ({}, {"echo_time_ms": 69.0, "repetition_time_ms": 5200.0,
          "attributes": {"ScanningSequence": "EP"}}),
    ({}, {"echo_time_ms": 70.0, "repetition_time_ms": 4000.0,
          "attributes": {"ScanningSequence": "GR"}}),
    ({}, {"echo_time_ms": 80.0, "repetition_time_ms": 700.0}),
    # enhanced-style EchoPulseSequence, and the description only when the times are missing
    ({}, {"attributes": {"ScanningSequence": None, "EchoPulseSequence": "GRADIENT"}}),
    ({"echo_time_ms": 100.0, "attributes": {"RepetitionTime": None}},
     {"series_description": "COR PD", "echo_time_ms": 100.0,
      "attributes": {"RepetitionTime": None}}),
])
def test_t2_weighting_needs_the_sequence_and_both_times(kit, t2_options, other_options) -> None:
    winner = _t2(kit, depth=3, number=7, **t2_options)
    loser = kit.datasets(depth=5, series_number=8, seed=8, **SMALL,
                         **{"series_description": "COR SEQ", **other_options})
    for ds in winner + loser:
        for keyword in [k for k in ("ScanningSequence", "RepetitionTime") if ds.get(k) is None]:
            if keyword in ds:
                delattr(ds, keyword)
    assert load_series(kit.as_sources(loser + winner)).info.series_number == 7


@pytest.mark.parametrize(("attributes", "reason"), [
    ({"ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]}, "a derived map or projection"),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "P", "ND"]}, "phase images (ImageType"),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]}, "a localizer (ImageType"),
    ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}, "secondary captures (Secondary Capture"),
])
def test_derived_phase_localizer_and_secondary_series_are_set_aside(kit, attributes,
                                                                      reason) -> None:
    other = kit.datasets(depth=8, series_number=9, seed=9, **SMALL, attributes=attributes)
    series = load_series(kit.as_sources(other + _t1(kit)))
    assert series.info.series_number == 2
    assert reason in _warning(series).split("set aside: series 9")[1]
    with pytest.raises(UnsupportedSeriesError, match=reason.replace("(", r"\(")) as info:
        load_series(kit.as_sources(other))
    assert [v.field for v in info.value.violations] == ["series"]


def test_derived_secondary_images_that_are_no_maps_are_read_ranked_below_originals(kit) -> None:
    reformat = kit.datasets(depth=8, series_number=9, seed=9, **SMALL, series_description="T2",
                            attributes={"ImageType": ["DERIVED", "SECONDARY", "MPR"]})
    assert load_series(kit.as_sources(reformat + _t2(kit))).info.series_number == 3
    assert load_series(kit.as_sources(reformat)).info.series_number == 9


def test_a_study_without_a_usable_series_lists_each_series_and_why(kit) -> None:
    study = _localizer(kit) + _dwi(kit) + kit.datasets(depth=2, modality="CT", series_number=4)
    with pytest.raises(UnsupportedSeriesError) as info:
        load_series(kit.as_sources(study))
    [violation] = info.value.violations
    assert violation.field == "series"
    text = violation.description
    assert text.startswith("none of the 3 image series in the upload can be used: series 1 "
                           "'localizer'")
    assert "series 5 'ep2d_diff_3b'" in text and "diffusion series" in text
    assert "series 4 'COR T2 FS' (CT, coronal, 2 slices): modality CT is not supported" in text
    for uid in _uids(study):
        assert uid not in text


# --- 4-D series ------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["DiffusionBValue", "SequenceName", "GE"])
def test_diffusion_is_named_from_public_and_well_known_private_headers(kit, how) -> None:
    with pytest.raises(InconsistentSeriesError, match=r"15 images at 5 positions \(3 volumes\): "
                       r".* lies at the same position as .*; this is a diffusion series "
                       r"\(b-values 0, 500, 1000 s/mm²\)") as info:
        load_series(kit.as_sources(_dwi(kit, how=how)))
    assert "dynamic" not in str(info.value)


def test_a_long_4d_series_is_called_4d_not_too_many_slices(kit) -> None:
    """Issue #22: the slice limit fired first ('the series has 520 slices; at most 64')."""
    dti = _dwi(kit, depth=10, b_values=(0, *[1000] * 7))
    with pytest.raises(InconsistentSeriesError, match=r"80 images at 10 positions \(8 volumes\)"
                       r".*diffusion series \(b-values 0, 1000 s/mm²\)") as info:
        load_series(kit.as_sources(dti))
    assert "at most" not in str(info.value)


@pytest.mark.parametrize(("attribute", "kind"), [
    ("EchoNumbers", "a multi-echo series — export a single echo"),
    ("TemporalPositionIdentifier", r"a dynamic \(time-resolved\) series"),
    ("AcquisitionNumber", r"repeated acquisitions \(fMRI, ASL, perfusion\)"),
])
def test_other_4d_series_are_named(kit, attribute, kind) -> None:
    uid = generate_uid()
    datasets = [ds for k in range(3) for ds in series_datasets(
        kit.phantom(4, seed=k, **SMALL), series_uid=uid, attributes={attribute: k + 1})]
    with pytest.raises(InconsistentSeriesError, match=f"12 images at 4 positions "
                       f"\\(3 volumes\\): .*{kind}"):
        load_series(kit.as_sources(datasets))


def test_an_enhanced_4d_diffusion_file_is_named(kit) -> None:
    enhanced = enhanced_dataset(np.concatenate([kit.phantom(3, seed=1, **SMALL),
                                                kit.phantom(3, seed=2, **SMALL)]))
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    for f, frame in enumerate(enhanced.PerFrameFunctionalGroupsSequence):
        position = frame.PlanePositionSequence[0]
        second = enhanced.PerFrameFunctionalGroupsSequence[f % 3].PlanePositionSequence[0]
        position.ImagePositionPatient = second.ImagePositionPatient
        item = Dataset()
        item.DiffusionBValue = 0 if f < 3 else 800
        item.DiffusionDirectionality = "NONE" if f < 3 else "ISOTROPIC"
        frame.MRDiffusionSequence = Sequence([item])
    with pytest.raises(InconsistentSeriesError, match=r"6 images at 3 positions \(2 volumes\): "
                       r"frame \d of 'xa.dcm' .*diffusion series \(b-values 0, 800 s/mm²\)"):
        load_series([DicomSource("xa.dcm", kit.to_bytes(enhanced))])


# --- objects without an image ----------------------------------------------------------------

@pytest.mark.parametrize(("sop_class", "modality", "kind"), [
    ("1.2.840.10008.5.1.4.1.1.66", "MR", "MR"),  # Raw Data Storage (Philips), with Rows
    ("1.2.840.10008.5.1.4.1.1.11.1", "PR", "PR"),  # Grayscale Softcopy Presentation State
    ("1.2.840.10008.5.1.4.1.1.88.22", "SR", "SR"),  # Enhanced SR
    ("1.3.12.2.1107.5.9.1", "MR", "MR"),  # Siemens CSA Non-Image (private)
])
def test_non_image_objects_of_the_series_are_skipped_not_lost_slices(kit, sop_class, modality,
                                                                     kind) -> None:
    series_datasets_ = _t2(kit, depth=5)
    extra = _t2(kit, depth=1, series_uid=series_datasets_[0].SeriesInstanceUID)[0]
    del extra.PixelData
    extra.SOPClassUID = extra.file_meta.MediaStorageSOPClassUID = sop_class
    extra.Modality = modality
    extra.NumberOfFrames = 1
    sources = [*kit.as_sources(series_datasets_), DicomSource("XX_Raw.dcm",
                                                              kit.to_bytes(extra))]
    series = load_series(sources)
    assert series.volume.shape[0] == 5
    assert any(w.startswith("skipped 1 DICOM object(s) without an image: 'XX_Raw.dcm (")
               for w in series.warnings)


# --- long series, limits and the model's depth -----------------------------------------------

def test_a_130_slice_3d_series_is_read_and_only_the_model_limit_refuses_it(kit) -> None:
    mprage = kit.datasets(depth=130, rows=32, columns=32, spacing_mm=(1.0, 1.0, 1.0),
                          series_number=4, series_description="T1 MPRAGE SAG",
                          orientation="sagittal", echo_time_ms=2.3, repetition_time_ms=2300.0,
                          attributes={"MRAcquisitionType": "3D", "ScanningSequence": "GR\\IR"})
    series = load_series(kit.as_sources(mprage), options=IngestOptions(model_max_slices=None))
    assert series.volume.shape == (130, 256, 256) and len(series.source.datasets) == 130
    with pytest.raises(UnsupportedSeriesError, match="the series has 130 slices but the "
                       r"segmentation model takes at most 64 \(a limit of the model, not of "
                       r"DICOM ingestion\)") as info:
        load_series(kit.as_sources(mprage))
    assert [v.field for v in info.value.violations] == ["series"]
    chosen = load_series(kit.as_sources(mprage + _t2(kit)))  # a study: the T2 fits the model
    assert chosen.info.series_number == 3
    assert "series 4 'T1 MPRAGE SAG' (MR, sagittal, 130 slices): the series has 130 slices " \
           "but the segmentation model takes at most 64" in _warning(chosen)


@pytest.mark.parametrize(("slices", "rows", "accepted"), [
    (170, 256, True), (130, 512, True), (512, 1024, False),
])
def test_the_default_decoded_budget(slices, rows, accepted) -> None:
    fits = slices * rows * rows * 4 <= IngestLimits().max_decoded_bytes
    assert fits == accepted


def test_the_decoded_budget_is_checked_before_decoding(kit) -> None:
    options = IngestOptions(limits=IngestLimits(max_decoded_bytes=100_000))
    with pytest.raises(UnsupportedSeriesError, match=r"the series would decode to 128.0 KiB "
                       r"\(8 slices of 64×64\); the limit is 97.7 KiB per series"):
        load_series(kit.as_sources(_t2(kit, depth=8)), options=options)


def test_the_upload_size_limit_does_not_ask_for_one_series(kit) -> None:
    options = IngestOptions(limits=IngestLimits(max_total_bytes=20_000))
    with pytest.raises(UploadError, match=r"the files total .*; the limit is 19.5 KiB") as info:
        load_series(kit.as_sources(_t2(kit, depth=3)), options=options)
    assert "one series" not in str(info.value)


# --- gzip ------------------------------------------------------------------------------------

def test_gzip_files_are_read_in_folders_zips_single_files_and_uploads(kit, tmp_path) -> None:
    datasets = _t2(kit, depth=3)
    plain = load_series(kit.as_sources(datasets))
    packed = {f"IM{k}.dcm.gz": gzip.compress(kit.to_bytes(ds)) for k, ds in enumerate(datasets)}
    for name, data in packed.items():
        (tmp_path / name).write_bytes(data)
    np.testing.assert_array_equal(load_series_from_path(tmp_path).volume, plain.volume)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in packed.items():
            archive.writestr(f"study/{name}", data)
    np.testing.assert_array_equal(load_series(sources_from_zip(buffer.getvalue())).volume,
                                  plain.volume)
    uploads = [DicomSource(n, d) for n, d in packed.items()]
    np.testing.assert_array_equal(load_series(uploads).volume, plain.volume)
    one = load_series_from_path(tmp_path / "IM0.dcm.gz")
    assert one.volume.shape[0] == 1


def test_gzip_bombs_stop_at_the_unpacked_limit(kit, tmp_path) -> None:
    bomb = gzip.compress(bytes(8 * 1024 * 1024))
    assert len(bomb) < 20_000
    limits = IngestLimits(max_file_bytes=2 * 1024 * 1024)
    with pytest.raises(UploadError, match=r"'bomb.dcm.gz' unpacks \(gzip\) to more than 2.0 MiB; "
                       r"the limit is 2.0 MiB per file") as info:
        load_series([DicomSource("bomb.dcm.gz", bomb)], options=IngestOptions(limits=limits))
    assert [v.field for v in info.value.violations] == ["dicom_files[0]"]
    (tmp_path / "bomb.dcm.gz").write_bytes(bomb)
    with pytest.raises(UploadError, match=r"unpacks \(gzip\) past the limit of 4.0 MiB"):
        load_series_from_path(tmp_path, options=IngestOptions(limits=IngestLimits(
            max_total_bytes=4 * 1024 * 1024)))


def test_deflated_files_count_at_their_inflated_size(kit) -> None:
    """pydicom inflates a Deflated Explicit VR Little Endian file whole: its inflated size is
    counted first, within the same limits (a legal deflated series still loads)."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    from cervixai.dicom.compressed import deflated_offset

    datasets = _t2(kit, depth=4)
    plain = load_series(kit.as_sources(datasets))
    for ds in datasets:
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    sources = kit.as_sources(datasets)
    assert all(deflated_offset(s.data) for s in sources)
    assert deflated_offset(kit.to_bytes(_t2(kit, depth=1)[0])) is None
    np.testing.assert_array_equal(load_series(sources).volume, plain.volume)
    inflated = sum(len(kit.to_bytes(ds)) for ds in _t2(kit, depth=4))
    compressed = sum(len(s.data) for s in sources)
    limit = (inflated + compressed) // 2   # above the compressed total, below the inflated one
    with pytest.raises(UploadError, match=r"unpacks \(Deflated transfer syntax\) past the "
                       r"limit of"):
        load_series(sources, options=IngestOptions(limits=IngestLimits(max_total_bytes=limit)))


def test_damaged_gzip_is_refused_naming_the_file(kit) -> None:
    data = gzip.compress(kit.to_bytes(_t2(kit, depth=1)[0]))
    with pytest.raises(UploadError, match=r"'a.dcm.gz' is gzip-compressed but ends before its "
                       r"end marker"):
        load_series([DicomSource("a.dcm.gz", data[:len(data) // 2])])
    with pytest.raises(UploadError, match=r"'b.dcm.gz' is gzip-compressed but damaged"):
        load_series([DicomSource("b.dcm.gz", data[:10] + b"\xff" * 50 + data[60:])])


# --- lossy compression -----------------------------------------------------------------------

def _jpeg_baseline(kit, depth=3):
    """8-bit JPEG Baseline files, encoded with Pillow (pydicom has no JPEG encoder)."""
    datasets = _t2(kit, depth=depth)
    for ds in datasets:
        pixels = ds.pixel_array.astype(np.float64)
        image = np.clip(pixels / pixels.max() * 255, 1, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=80)
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = "9.5"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        for keyword in ("RescaleSlope", "RescaleIntercept", "RescaleType"):
            if keyword in ds:
                delattr(ds, keyword)
    return datasets


def _compressed(kit, syntax, **arguments):
    datasets = _t2(kit, depth=3)
    for ds in datasets:
        ds.compress(syntax, **arguments)
    return datasets


@pytest.mark.parametrize(("build", "syntax", "details"), [
    (_jpeg_baseline, "1.2.840.10008.1.2.4.50 (JPEG Baseline (Process 1))",
     "; LossyImageCompression 01; ratio 9.5; method ISO_10918_1"),
    (lambda kit: _compressed(kit, JPEG2000, j2k_cr=[20]),
     "1.2.840.10008.1.2.4.91 (JPEG 2000 Image Compression)", ""),
    (lambda kit: _compressed(kit, JPEGLSNearLossless, jls_error=3),
     "1.2.840.10008.1.2.4.81 (JPEG-LS Lossy (Near-Lossless) Image Compression)", ""),
])
def test_lossy_series_are_read_with_a_warning_or_refused_by_option(kit, build, syntax,
                                                                    details) -> None:
    sources = kit.as_sources(build(kit))
    series = load_series(sources)
    warning = _warning(series, "series 3 'COR T2 TSE SPAIR' (MR, coronal, 3 slices) holds "
                               "lossy-compressed pixel data")
    assert f"(3 of 3 file(s), transfer syntax {syntax}{details})" in warning
    with pytest.raises(UnsupportedSeriesError, match="lossy compression is refused here "
                       r"\(accept_lossy=False\)"):
        load_series(sources, options=IngestOptions(accept_lossy=False))


@pytest.mark.parametrize(("syntax", "arguments"), [
    (JPEG2000Lossless, {}), (JPEGLSNearLossless, {"jls_error": 0}), (ExplicitVRLittleEndian, None),
])
def test_lossless_codestreams_are_not_called_lossy(kit, syntax, arguments) -> None:
    datasets = _t2(kit, depth=2) if arguments is None else _compressed(kit, syntax, **arguments)
    series = load_series(kit.as_sources(datasets), options=IngestOptions(accept_lossy=False))
    assert not any("lossy" in w for w in series.warnings)


# --- pydicom's own messages ------------------------------------------------------------------

SECRET_UID = "1.2.826.0.1.3680043.8.498.4417_77"  # invalid (underscore): pydicom complains


def _invalid_uid_file(kit) -> bytes:
    [ds] = _t2(kit, depth=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.SeriesInstanceUID = SECRET_UID
        return kit.to_bytes(ds)


def test_pydicom_warnings_carry_no_uid_to_logs_or_stderr(kit, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    before = pydicom_message_counts().get("WARNING", 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        series = load_series([DicomSource("bad_uid.dcm", _invalid_uid_file(kit))])
    assert series.volume.shape[0] == 1
    assert pydicom_message_counts().get("WARNING", 0) > before  # counted ...
    assert "Invalid value for VR UI" in caplog.text  # ... and re-logged, redacted
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, " ".join(str(w.message) for w in caught),
                 " ".join(series.warnings)):
        assert "4417" not in text and "3680043" not in text


def test_pydicom_warnings_do_not_reach_a_plain_processs_stderr(kit, tmp_path) -> None:
    path = tmp_path / "bad_uid.dcm"
    path.write_bytes(_invalid_uid_file(kit))
    script = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
              "from cervixai.dicom import load_series_from_path; "
              f"print(load_series_from_path({str(path)!r}).volume.shape)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "(1, 256, 256)" in done.stdout
    assert "pydicom warning: Invalid value for VR UI: '…'" in done.stderr  # redacted, DEBUG
    assert "4417" not in done.stderr and "3680043" not in done.stderr


def test_every_problem_is_still_invalid_input(kit) -> None:
    sources = kit.as_sources(_t2(kit, depth=3))
    sources[1] = DicomSource("IM0001.dcm", b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(InvalidInput):
        load_series(sources)
    with pytest.raises(NotDicomError):
        load_series([DicomSource("x.dcm.gz", gzip.compress(b"not dicom at all" * 20))])
