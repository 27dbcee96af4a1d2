"""Reading uploaded bytes into DICOM headers: the boundary where untrusted bytes meet pydicom.

Everything pydicom raises while parsing a file or reading a value becomes a
:class:`~cervixai.dicom.errors.NotDicomError` naming the file; nothing identifying is read (only
the whitelisted attributes below are ever converted) and no pydicom message is echoed, because
pydicom quotes element values in its messages.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from cervixai.dicom.errors import NotDicomError, file_field
from cervixai.dicom.quiet import quiet_pydicom
from cervixai.dicom.sources import DicomSource

logger = logging.getLogger(__name__)
quiet_pydicom()  # before any file is parsed: pydicom's messages quote element values

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
_UNDEFINED_LENGTH = 0xFFFFFFFF
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@dataclass(frozen=True)
class SeriesFacts:
    """Whitelisted, non-identifying facts about the acquisition, read from one file."""

    series_number: int | None = None
    series_description: str | None = None
    protocol_name: str | None = None
    sequence_name: str | None = None
    scan_options: str | None = None
    fat_suppression: str | None = None
    image_type: str | None = None
    complex_component: str | None = None  # ComplexImageComponent: MAGNITUDE, PHASE, ...
    scanning_sequence: str | None = None  # SE, IR, GR, EP, RM (multi-valued, ``\\``-joined)
    sequence_variant: str | None = None
    echo_pulse_sequence: str | None = None  # Enhanced MR: SPIN, GRADIENT, BOTH
    acquisition_type: str | None = None  # MRAcquisitionType: 2D or 3D
    echo_time_ms: float | None = None
    repetition_time_ms: float | None = None
    inversion_time_ms: float | None = None
    lossy_compression: str | None = None  # LossyImageCompression: 00 or 01
    lossy_ratio: str | None = None
    lossy_method: str | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    field_strength_t: float | None = None
    slice_thickness_mm: float | None = None


@dataclass(frozen=True)
class ImageObject:
    """One file that holds pixel data: its object-level header facts and the parsed dataset."""

    index: int
    name: str
    dataset: Dataset = field(repr=False, compare=False)
    series_uid: str | None = field(repr=False)  # grouping key, never shown
    sop_instance_uid: str | None = field(repr=False)  # duplicate detection, never shown
    modality: str | None
    sop_class_name: str
    transfer_syntax: UID
    rows: int | None
    columns: int | None
    samples_per_pixel: int
    photometric: str | None
    number_of_frames: int
    bits_allocated: int | None
    pixel_keyword: str  # PixelData, FloatPixelData or DoubleFloatPixelData
    pixel_bytes: int  # length of the pixel data value as read
    first_orientation: tuple[float, ...] | None
    facts: SeriesFacts
    # one patient, one study per upload (selection.check_one_study): compared, never shown
    patient_id: str | None = field(default=None, repr=False, compare=False)
    study_uid: str | None = field(default=None, repr=False, compare=False)

    @property
    def field_name(self) -> str:
        return file_field(self.index)


@dataclass(frozen=True)
class SkippedObject:
    """A readable DICOM file without an image (DICOMDIR, SR, KO, PR...), or an image whose pixel
    data is missing (``broken``): refused if it belongs to the chosen series, skipped if not."""

    index: int
    name: str
    kind: str
    series_uid: str | None = field(default=None, repr=False)
    broken: bool = False


def parse_source(index: int, source: DicomSource) -> ImageObject | SkippedObject:
    """Parse one uploaded file; raise :class:`NotDicomError` naming it when that is impossible."""
    try:
        ds = read_dataset(index, source)
        return _classify(ds, ValueReader(ds, index, source.name), index, source.name)
    except NotDicomError:
        raise
    except Exception as e:  # pydicom's lazy value conversion can raise anything on bad bytes
        logger.debug("header of an uploaded file unreadable: %s", type(e).__name__)
        raise NotDicomError.at(file_field(index), f"the DICOM header of '{source.name}' is "
                               f"damaged and cannot be read") from e


def read_dataset(index: int, source: DicomSource) -> Dataset:
    """``dcmread`` with the preamble required, then, for files without one, accepted only when
    the bytes parse to a dataset with a SOPClassUID or Modality."""
    where = file_field(index)
    if not source.data:
        raise NotDicomError.at(where, f"'{source.name}' is empty (0 bytes)")
    ds: Dataset
    try:
        ds = dcmread(BytesIO(source.data), force=False)
    except InvalidDicomError:
        ds = _read_without_preamble(index, source)
    except Exception as e:
        logger.debug("dcmread failed on an uploaded file: %s", type(e).__name__)
        raise NotDicomError.at(where, f"'{source.name}' is damaged or truncated: its DICOM "
                               f"header cannot be parsed") from e
    _check_not_truncated(ds, where, source.name)
    return ds


def _read_without_preamble(index: int, source: DicomSource) -> Dataset:
    where = file_field(index)
    refusal = NotDicomError.at(where, f"'{source.name}' is not a DICOM file (no 'DICM' header "
                               f"and no readable DICOM data elements)")
    try:
        ds = dcmread(BytesIO(source.data), force=True)
        if ("SOPClassUID" not in ds or not ds.SOPClassUID) and \
                ("Modality" not in ds or not ds.Modality):
            raise refusal
    except NotDicomError:
        raise
    except Exception as e:
        raise refusal from e
    return ds


def _check_not_truncated(ds: Dataset, where: str, name: str) -> None:
    """pydicom stops silently at the end of a short file; its last element shows the cut."""
    tags = list(ds.keys())
    if not tags:
        raise NotDicomError.at(where, f"'{name}' holds no DICOM data elements after its header; "
                               f"the file is truncated or empty")
    last = ds.get_item(tags[-1], keep_deferred=True)
    if (isinstance(last, RawDataElement) and last.value is not None
            and last.length != _UNDEFINED_LENGTH and len(last.value) < last.length):
        raise NotDicomError.at(where, f"'{name}' is truncated: its last element {last.tag} "
                               f"should hold {last.length} bytes but the file ends after "
                               f"{len(last.value)}")


def transfer_syntax_of(ds: Dataset, where: str, name: str) -> UID:
    """The file's transfer syntax. Without one in the file meta, it is inferred from how the
    dataset parsed (and recorded, so pydicom can decode) — possible for native pixels only."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return UID(str(uid))
    if _is_encapsulated(ds):
        raise NotDicomError.at(where, f"'{name}' holds compressed pixel data but no "
                               f"TransferSyntaxUID (0002,0010) to say how it was compressed")
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        inferred = ImplicitVRLittleEndian
    elif little is False:
        inferred = ExplicitVRBigEndian
    else:
        inferred = ExplicitVRLittleEndian
    if meta is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = inferred
    return inferred


def _is_encapsulated(ds: Dataset) -> bool:
    if "PixelData" not in ds:
        return False
    element = ds.get_item("PixelData", keep_deferred=True)
    return getattr(element, "length", 0) == _UNDEFINED_LENGTH or bool(
        getattr(element, "is_undefined_length", False))


def _classify(ds: Dataset, reader: ValueReader, index: int,
              name: str) -> ImageObject | SkippedObject:
    meta = getattr(ds, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    if media_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return SkippedObject(index, name, "DICOMDIR")
    sop_class = reader.text("SOPClassUID") or media_class
    sop_class_name = UID(sop_class).name if sop_class else "unknown SOP class"
    modality = reader.text("Modality")
    pixel_keyword = next((k for k in _PIXEL_KEYWORDS if k in ds), None)
    if pixel_keyword is None:
        # only an image SOP class promises pixel data; Raw Data, CSA non-image, presentation
        # states, SR and private objects may carry Rows or NumberOfFrames without any
        broken = is_image_sop_class(sop_class_name) or (not sop_class and "Rows" in ds)
        kind = f"{sop_class_name} without pixel data" if broken else modality or sop_class_name
        return SkippedObject(index, name, kind, reader.text("SeriesInstanceUID"), broken)
    return ImageObject(
        index=index, name=name, dataset=ds,
        series_uid=reader.text("SeriesInstanceUID"),
        sop_instance_uid=reader.text("SOPInstanceUID"),
        modality=modality.upper() if modality else None,
        sop_class_name=sop_class_name,
        transfer_syntax=transfer_syntax_of(ds, file_field(index), name),
        rows=reader.integer("Rows"),
        columns=reader.integer("Columns"),
        samples_per_pixel=reader.integer("SamplesPerPixel") or 1,
        photometric=(reader.text("PhotometricInterpretation") or "").upper() or None,
        number_of_frames=_number_of_frames(reader),
        bits_allocated=reader.integer("BitsAllocated"),
        pixel_keyword=pixel_keyword,
        pixel_bytes=len(ds.get(pixel_keyword) or b""),
        first_orientation=_first_orientation(ds, reader),
        facts=_series_facts(ds, reader),
        patient_id=reader.text("PatientID"),
        study_uid=reader.text("StudyInstanceUID"),
    )


def is_image_sop_class(name: str) -> bool:
    """Whether a SOP class name (pydicom's, from the UID) is an image storage class."""
    return name.endswith("Image Storage") or "Image Storage - For " in name


def _number_of_frames(reader: ValueReader) -> int:
    frames = reader.integer("NumberOfFrames")
    if frames is None:
        return 1
    if frames < 1:
        raise NotDicomError.at(file_field(reader.index), f"NumberOfFrames of '{reader.name}' is "
                               f"{frames}; it must be at least 1")
    return frames


def _first_orientation(ds: Dataset, reader: ValueReader) -> tuple[float, ...] | None:
    """The orientation used to rank series; geometry proper is read later, frame by frame."""
    try:
        items = functional_items(ds, 0)
        plane = group_item(items, "PlaneOrientationSequence")
        return reader.vector("ImageOrientationPatient", 6, plane) \
            or reader.vector("ImageOrientationPatient", 6)
    except Exception:  # only ranks series; a damaged value is reported when the series is read
        return None


def _series_facts(ds: Dataset, reader: ValueReader) -> SeriesFacts:
    items = functional_items(ds, 0)
    echo = group_item(items, "MREchoSequence")
    timing = group_item(items, "MRTimingAndRelatedParametersSequence")
    modifier = group_item(items, "MRModifierSequence")
    measures = group_item(items, "PixelMeasuresSequence")
    optional = reader.optional_number
    return SeriesFacts(
        series_number=reader.optional_integer("SeriesNumber"),
        series_description=reader.optional_text("SeriesDescription"),
        protocol_name=reader.optional_text("ProtocolName"),
        sequence_name=reader.optional_text("SequenceName")
        or reader.optional_text("PulseSequenceName"),
        scan_options=reader.optional_text("ScanOptions"),
        fat_suppression=reader.optional_text("SpectrallySelectedSuppression")
        or reader.optional_text("SpectrallySelectedSuppression", modifier),
        image_type=reader.optional_text("ImageType"),
        complex_component=reader.optional_text("ComplexImageComponent"),
        scanning_sequence=reader.optional_text("ScanningSequence"),
        sequence_variant=reader.optional_text("SequenceVariant"),
        echo_pulse_sequence=reader.optional_text("EchoPulseSequence"),
        acquisition_type=reader.optional_text("MRAcquisitionType"),
        echo_time_ms=optional("EchoTime") or optional("EffectiveEchoTime", echo),
        repetition_time_ms=optional("RepetitionTime") or optional("RepetitionTime", timing),
        inversion_time_ms=optional("InversionTime") or _first_number(
            reader, "InversionTimes", modifier),
        lossy_compression=reader.optional_text("LossyImageCompression"),
        lossy_ratio=reader.optional_text("LossyImageCompressionRatio"),
        lossy_method=reader.optional_text("LossyImageCompressionMethod"),
        manufacturer=reader.optional_text("Manufacturer"),
        model_name=reader.optional_text("ManufacturerModelName"),
        field_strength_t=optional("MagneticFieldStrength"),
        slice_thickness_mm=optional("SliceThickness") or optional("SliceThickness", measures),
    )


def _first_number(reader: ValueReader, keyword: str, item: Dataset | None) -> float | None:
    try:
        numbers = reader.numbers(keyword, item) if item is not None else None
    except NotDicomError:
        return None
    return numbers[0] if numbers else None


def functional_items(ds: Dataset, frame: int) -> tuple[Dataset | None, Dataset | None]:
    """The per-frame and shared functional group items that apply to ``frame`` (0-based)."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = ds.get("SharedFunctionalGroupsSequence")
    return (per_frame[frame] if per_frame is not None and frame < len(per_frame) else None,
            shared[0] if shared else None)


def group_item(items: tuple[Dataset | None, Dataset | None], keyword: str) -> Dataset | None:
    """The first item of functional group ``keyword``: per-frame first, then shared."""
    for item in items:
        if item is not None and keyword in item:
            sequence = item.get(keyword)
            if sequence:
                first: Dataset = sequence[0]
                return first
    return None


class ValueReader:
    """Reads whitelisted attributes from one file's dataset (or a nested item of it), turning
    unreadable values into a :class:`NotDicomError` that names the attribute and the file."""

    def __init__(self, ds: Dataset, index: int, name: str) -> None:
        self.ds = ds
        self.index = index
        self.name = name

    def _raw(self, keyword: str, item: Dataset | None) -> Any:
        source = self.ds if item is None else item
        try:
            return source.get(keyword)
        except Exception as e:
            raise self._unreadable(keyword, "cannot be decoded") from e

    def _unreadable(self, keyword: str, what: str) -> NotDicomError:
        return NotDicomError.at(file_field(self.index), f"{keyword} of '{self.name}' {what}")

    def text(self, keyword: str, item: Dataset | None = None) -> str | None:
        value = self._raw(keyword, item)
        if value is None or value == "":
            return None
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace")
        if isinstance(value, Sequence) and not isinstance(value, str):
            return "\\".join(str(v) for v in value).strip() or None
        return str(value).strip() or None

    def optional_text(self, keyword: str, item: Dataset | None = None) -> str | None:
        """Descriptive text: a damaged value is treated as absent rather than refused."""
        try:
            return self.text(keyword, item)
        except NotDicomError:
            return None

    def numbers(self, keyword: str, item: Dataset | None = None) -> tuple[float, ...] | None:
        value = self._raw(keyword, item)
        if value is None or value == "":
            return None
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        try:
            numbers = tuple(float(v) for v in values)
        except (TypeError, ValueError) as e:
            raise self._unreadable(keyword, "is not numeric") from e
        if not all(math.isfinite(n) for n in numbers):
            raise self._unreadable(keyword, "holds a value that is not a finite number")
        return numbers

    def number(self, keyword: str, item: Dataset | None = None) -> float | None:
        numbers = self.numbers(keyword, item)
        if numbers is None:
            return None
        if len(numbers) != 1:
            raise self._unreadable(keyword, f"should hold one number, not {len(numbers)}")
        return numbers[0]

    def optional_number(self, keyword: str, item: Dataset | None = None) -> float | None:
        try:
            return self.number(keyword, item)
        except NotDicomError:
            return None

    def integer(self, keyword: str, item: Dataset | None = None) -> int | None:
        number = self.number(keyword, item)
        if number is None:
            return None
        if number != int(number):
            raise self._unreadable(keyword, "is not a whole number")
        return int(number)

    def optional_integer(self, keyword: str, item: Dataset | None = None) -> int | None:
        try:
            return self.integer(keyword, item)
        except NotDicomError:
            return None

    def vector(self, keyword: str, size: int,
               item: Dataset | None = None) -> tuple[float, ...] | None:
        numbers = self.numbers(keyword, item)
        if numbers is None:
            return None
        if len(numbers) != size:
            raise self._unreadable(keyword, f"should hold {size} numbers, not {len(numbers)}")
        return numbers
