"""Writing volumes as valid MR DICOM series: for synthetic cohorts, phantoms and tests.

:func:`series_datasets` builds one MR Image Storage dataset per slice, :func:`enhanced_dataset`
one Enhanced MR Image Storage dataset holding every slice as a frame, and :func:`write_series`
saves either. Slice ``k`` of the volume lies at ``origin + k · spacing · normal`` where the
normal is ``row_direction × column_direction`` (coronal: +y, posterior; axial: +z, head;
sagittal: −x, right), so an ingested series comes back in the order it was written.
Pixel data can be written uncompressed or compressed with whichever encoders pydicom has here:
see :func:`encodable_transfer_syntaxes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.encoders.base import get_encoder
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    DeflatedExplicitVRLittleEndian,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

DIRECTIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}
_NATIVE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)


@dataclass(frozen=True)
class PatientIdentity:
    """Identifying attributes to write (synthetic by default); ingestion must never pass them on.
    Keys of ``extra`` are DICOM keywords written at the top level."""

    name: str = "PHANTOM^CERVIXAI"
    patient_id: str = "PHANTOM-0001"
    birth_date: str = "19700101"
    sex: str = "F"
    accession_number: str = ""
    institution_name: str = ""
    referring_physician: str = ""
    station_name: str = ""
    study_date: str = "20240101"
    study_time: str = "120000"
    extra: tuple[tuple[str, str], ...] = ()


def encodable_transfer_syntaxes() -> tuple[UID, ...]:
    """Transfer syntaxes this installation can write: the native ones plus every lossless
    compression whose pydicom encoder has its plugin installed."""
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

    compressed = tuple(uid for uid in (RLELossless, JPEGLSLossless, JPEG2000Lossless)
                       if _encoder_available(uid))
    return _NATIVE + compressed


def _encoder_available(uid: UID) -> bool:
    try:
        return bool(get_encoder(uid).is_available)
    except (NotImplementedError, ValueError):
        return False


def series_datasets(
    volume: npt.ArrayLike,
    *,
    spacing_mm: tuple[float, float, float] = (5.0, 0.8, 0.8),
    orientation: str | tuple[float, ...] = "coronal",
    origin_mm: tuple[float, float, float] = (-100.0, -60.0, 100.0),
    series_description: str = "COR T2 FS",
    series_number: int = 1,
    modality: str = "MR",
    transfer_syntax: UID = ExplicitVRLittleEndian,
    patient: PatientIdentity | None = None,
    rescale: tuple[float, float] | None = None,
    photometric: str = "MONOCHROME2",
    echo_time_ms: float = 90.0,
    repetition_time_ms: float = 4000.0,
    scan_options: str = "FS",
    study_uid: str | None = None,
    series_uid: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> list[Dataset]:
    """One MR Image Storage dataset per slice of ``volume`` (depth, rows, columns).

    Integer volumes are stored as they are (uint16, or int16 with PixelRepresentation 1), with
    ``rescale`` = (slope, intercept) written if given; float volumes are quantised to uint16 with
    the slope and intercept that reproduce them. ``photometric='MONOCHROME1'`` stores the mirrored
    values, so the series displays (and ingests) the same. ``attributes`` (DICOM keyword → value)
    are set on every slice last, to build unusual or broken series.
    """
    stored, slope, intercept = _stored_values(volume, rescale, photometric)
    row, column = _directions(orientation)
    normal = np.cross(row, column)
    identity = patient or PatientIdentity()
    # by default one study per patient, so that series written for one patient form one study
    # (ingestion refuses an upload of several studies)
    study_uid = study_uid or generate_uid(entropy_srcs=[
        "cervixai-study", identity.patient_id, identity.accession_number, identity.study_date])
    series_uid = series_uid or generate_uid()
    frame_of_reference = generate_uid()
    datasets = []
    for k, image in enumerate(stored):
        ds = _base_dataset(MRImageStorage, study_uid, series_uid, modality, identity)
        ds.FrameOfReferenceUID = frame_of_reference
        ds.SeriesNumber = series_number
        ds.SeriesDescription = series_description
        ds.ProtocolName = series_description
        ds.InstanceNumber = k + 1
        position = np.asarray(origin_mm) + k * spacing_mm[0] * normal
        ds.ImagePositionPatient = _ds_list(position)
        ds.ImageOrientationPatient = _ds_list([*row, *column])
        ds.PixelSpacing = _ds_list(spacing_mm[1:])
        ds.SliceThickness = _ds(spacing_mm[0])
        ds.SliceLocation = _ds(float(np.dot(position, normal)))
        ds.EchoTime = _ds(echo_time_ms)
        ds.RepetitionTime = _ds(repetition_time_ms)
        ds.EchoNumbers = 1
        ds.ScanOptions = scan_options
        ds.MagneticFieldStrength = _ds(1.5)
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "SK"
        ds.MRAcquisitionType = "2D"
        _set_pixels(ds, image[np.newaxis], photometric, slope, intercept)
        for keyword, value in (attributes or {}).items():
            setattr(ds, keyword, value)
        datasets.append(_finish(ds, transfer_syntax))
    return datasets


def enhanced_dataset(
    volume: npt.ArrayLike,
    *,
    spacing_mm: tuple[float, float, float] = (5.0, 0.8, 0.8),
    orientation: str | tuple[float, ...] = "coronal",
    origin_mm: tuple[float, float, float] = (-100.0, -60.0, 100.0),
    series_description: str = "COR T2 FS",
    series_number: int = 1,
    transfer_syntax: UID = ExplicitVRLittleEndian,
    patient: PatientIdentity | None = None,
    rescale: tuple[float, float] | None = None,
    echo_time_ms: float = 90.0,
    repetition_time_ms: float = 4000.0,
    frame_order: Sequence[int] | None = None,
    per_frame_geometry: bool = False,
) -> Dataset:
    """One Enhanced MR Image Storage dataset whose frames are the slices of ``volume``.

    Frame ``f`` holds slice ``frame_order[f]`` (default: in order), so tests can store frames out
    of spatial order. Positions are per frame; orientation, pixel measures and the value
    transformation are shared unless ``per_frame_geometry``.
    """
    stored, slope, intercept = _stored_values(volume, rescale, "MONOCHROME2")
    order = list(frame_order) if frame_order is not None else list(range(len(stored)))
    if sorted(order) != list(range(len(stored))):
        raise ValueError(f"frame_order must be a permutation of 0..{len(stored) - 1}")
    row, column = _directions(orientation)
    normal = np.cross(row, column)
    identity = patient or PatientIdentity()
    ds = _base_dataset(EnhancedMRImageStorage, generate_uid(), generate_uid(), "MR", identity)
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.ProtocolName = series_description
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.MagneticFieldStrength = _ds(1.5)
    ds.NumberOfFrames = len(order)
    geometry = {
        "PlaneOrientationSequence": _item(ImageOrientationPatient=_ds_list([*row, *column])),
        "PixelMeasuresSequence": _item(PixelSpacing=_ds_list(spacing_mm[1:]),
                                       SliceThickness=_ds(spacing_mm[0])),
        "PixelValueTransformationSequence": _item(RescaleIntercept=_ds(intercept),
                                                  RescaleSlope=_ds(slope), RescaleType="US"),
    }
    shared = Dataset()
    shared.MREchoSequence = DicomSequence([_item(EffectiveEchoTime=echo_time_ms)])
    shared.MRTimingAndRelatedParametersSequence = DicomSequence(
        [_item(RepetitionTime=repetition_time_ms)])
    if not per_frame_geometry:
        for keyword, item in geometry.items():
            setattr(shared, keyword, DicomSequence([item]))
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for slice_index in order:
        frame = Dataset()
        position = np.asarray(origin_mm) + slice_index * spacing_mm[0] * normal
        frame.PlanePositionSequence = DicomSequence([_item(
            ImagePositionPatient=_ds_list(position))])
        frame.FrameContentSequence = DicomSequence([_item(
            StackID="1", InStackPositionNumber=slice_index + 1,
            DimensionIndexValues=[1, slice_index + 1])])
        if per_frame_geometry:
            for keyword, item in geometry.items():
                setattr(frame, keyword, DicomSequence([_copy(item)]))
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    _set_pixels(ds, stored[order], "MONOCHROME2", None, None)
    return _finish(ds, transfer_syntax)


def write_series(volume: npt.ArrayLike, out_dir: str | Path, *, enhanced: bool = False,
                 file_name: str = "IM{index:04d}.dcm", **options: Any) -> list[Path]:
    """Write ``volume`` as a DICOM series into ``out_dir`` (created if needed) and return the
    paths in slice order. ``options`` are those of :func:`series_datasets` (or of
    :func:`enhanced_dataset` with ``enhanced=True``, which writes one file)."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    datasets = [enhanced_dataset(volume, **options)] if enhanced \
        else series_datasets(volume, **options)
    paths = []
    for index, ds in enumerate(datasets):
        path = folder / file_name.format(index=index)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _stored_values(volume: npt.ArrayLike, rescale: tuple[float, float] | None,
                   photometric: str) -> tuple[npt.NDArray[np.integer[Any]], float, float]:
    array = np.asarray(volume)
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"volume must be (depth, rows, columns), got shape {array.shape}")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2, got {photometric!r}")
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < np.iinfo(np.int16).min or array.max() > np.iinfo(np.uint16).max:
            raise ValueError("integer volumes must fit 16 bits")
        dtype = np.int16 if array.min() < 0 else np.uint16
        stored = array.astype(dtype)
        slope, intercept = rescale or (1.0, 0.0)
    else:
        if rescale is not None:
            raise ValueError("rescale applies to integer volumes; float volumes are quantised")
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        slope = (high - low) / 65535.0 if high > low else 1.0
        intercept = low
        stored = np.rint((array - low) / slope).astype(np.uint16)
    if photometric == "MONOCHROME1":
        mirrored = int(stored.max()) + int(stored.min()) - stored.astype(np.int32)
        stored = mirrored.astype(stored.dtype)
    return stored, float(slope), float(intercept)


def _directions(orientation: str | tuple[float, ...]) -> tuple[npt.NDArray[np.float64],
                                                              npt.NDArray[np.float64]]:
    if isinstance(orientation, str):
        if orientation not in DIRECTIONS:
            raise ValueError(f"orientation must be one of {sorted(DIRECTIONS)} or six direction "
                             f"cosines, got {orientation!r}")
        row, column = DIRECTIONS[orientation]
        return np.asarray(row), np.asarray(column)
    cosines = np.asarray(orientation, dtype=np.float64)
    if cosines.shape != (6,):
        raise ValueError(f"orientation cosines must be six numbers, got {orientation!r}")
    return cosines[:3], cosines[3:]


def _base_dataset(sop_class: UID, study_uid: str, series_uid: str, modality: str,
                  identity: PatientIdentity) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.Manufacturer = "cervixai"
    ds.ManufacturerModelName = "synthetic"
    ds.PatientName = identity.name
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = identity.birth_date
    ds.PatientSex = identity.sex
    ds.AccessionNumber = identity.accession_number
    ds.InstitutionName = identity.institution_name
    ds.ReferringPhysicianName = identity.referring_physician
    ds.StationName = identity.station_name
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = identity.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = identity.study_time
    ds.StudyID = "1"
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "PELVIS"
    for keyword, value in identity.extra:
        setattr(ds, keyword, value)
    return ds


def _set_pixels(ds: Dataset, frames: npt.NDArray[np.integer[Any]], photometric: str,
                slope: float | None, intercept: float | None) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if frames.dtype == np.int16 else 0
    if slope is not None and intercept is not None and (slope, intercept) != (1.0, 0.0):
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(intercept)
        ds.RescaleType = "US"
    ds.PixelData = np.ascontiguousarray(frames.astype(frames.dtype.newbyteorder("<"))).tobytes()


def _finish(ds: Dataset, transfer_syntax: UID) -> Dataset:
    """Set the transfer syntax, compressing the pixel data if it is an encapsulated one."""
    syntax = UID(transfer_syntax)
    if syntax in _NATIVE:
        ds.file_meta.TransferSyntaxUID = syntax
        return ds
    if not _encoder_available(syntax):
        raise ValueError(f"cannot encode {syntax.name}; available: "
                         f"{[u.name for u in encodable_transfer_syntaxes()]}")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.compress(syntax)
    return ds


def _item(**values: Any) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _copy(item: Dataset) -> Dataset:
    copy = Dataset()
    for element in item:
        copy.add_new(element.tag, element.VR, element.value)
    return copy


def _ds(value: float) -> str:
    """A DS string of at most 16 characters that round-trips the value closely."""
    for digits in range(12, 5, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    return f"{value:.6g}"


def _ds_list(values: npt.ArrayLike) -> list[str]:
    return [_ds(float(v)) for v in np.asarray(values, dtype=np.float64).ravel()]
