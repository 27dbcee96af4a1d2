"""Per-frame headers: where each 2-D image of a series lies and how its values scale.

A classic MR file is one frame described by top-level attributes. An enhanced (multi-frame) MR
file describes frame ``f`` in item ``f`` of PerFrameFunctionalGroupsSequence, falling back to
SharedFunctionalGroupsSequence and then to top-level attributes. Both become the same
:class:`FrameHeader`, so sorting and checks do not care which kind of file a slice came from.
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from cervixai.dicom.errors import NotDicomError, file_field
from cervixai.dicom.parse import ImageObject, ValueReader, functional_items, group_item

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameHeader:
    """One 2-D image of a series: its file, frame number and geometry, as read."""

    source: ImageObject = field(repr=False)
    frame: int  # 0-based frame number within its file
    position: tuple[float, ...] | None  # ImagePositionPatient, mm (LPS)
    orientation: tuple[float, ...] | None  # ImageOrientationPatient, six direction cosines
    pixel_spacing: tuple[float, ...] | None  # (row spacing, column spacing), mm
    slice_thickness: float | None
    rescale: tuple[float, float]  # (RescaleSlope, RescaleIntercept)
    echo: tuple[str, str] | None  # (attribute, value) telling echoes apart
    temporal: tuple[str, str] | None  # (attribute, value) telling time points apart
    acquisition: tuple[str, str] | None = None  # AcquisitionNumber / FrameAcquisitionNumber
    b_value: float | None = None  # diffusion weighting, s/mm² (public or well-known private)
    diffusion: bool = False  # any sign of a diffusion-weighted image (see _diffusion)

    @property
    def field_name(self) -> str:
        return self.source.field_name

    @property
    def label(self) -> str:
        """How messages name this image: the file, and the frame for multi-frame files."""
        if self.source.number_of_frames > 1:
            return f"frame {self.frame + 1} of '{self.source.name}'"
        return f"'{self.source.name}'"


def frame_headers(source: ImageObject) -> list[FrameHeader]:
    """The headers of every frame of one file; :class:`NotDicomError` when they are unreadable."""
    reader = ValueReader(source.dataset, source.index, source.name)
    try:
        if source.number_of_frames == 1 and "PerFrameFunctionalGroupsSequence" not in \
                source.dataset:
            return [_classic_frame(source, reader)]
        return _enhanced_frames(source, reader)
    except NotDicomError:
        raise
    except Exception as e:  # pydicom's lazy value conversion can raise anything on bad bytes
        logger.debug("frame header unreadable: %s", type(e).__name__)
        raise NotDicomError.at(source.field_name, f"the frame geometry of '{source.name}' is "
                               f"damaged and cannot be read") from e


def _classic_frame(source: ImageObject, reader: ValueReader) -> FrameHeader:
    echo_number = reader.optional_text("EchoNumbers")
    echo = (("EchoNumbers", echo_number) if echo_number else
            _pair("EchoTime", reader.optional_text("EchoTime")))
    temporal = reader.optional_text("TemporalPositionIdentifier")
    b_value = _b_value(source.dataset, reader, None)
    return FrameHeader(
        source=source, frame=0,
        position=reader.vector("ImagePositionPatient", 3),
        orientation=reader.vector("ImageOrientationPatient", 6),
        pixel_spacing=_spacing(reader, None),
        slice_thickness=reader.optional_number("SliceThickness"),
        rescale=_rescale(reader, None),
        echo=echo,
        temporal=("TemporalPositionIdentifier", temporal) if temporal else None,
        acquisition=_pair("AcquisitionNumber", reader.optional_text("AcquisitionNumber")),
        b_value=b_value,
        diffusion=_diffusion(source, reader, None, b_value),
    )


def _enhanced_frames(source: ImageObject, reader: ValueReader) -> list[FrameHeader]:
    ds = source.dataset
    count = source.number_of_frames
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None or len(per_frame) != count:
        found = 0 if per_frame is None else len(per_frame)
        raise NotDicomError.at(source.field_name, f"'{source.name}' holds {count} frames but its "
                               f"PerFrameFunctionalGroupsSequence has {found} items; the "
                               f"frames cannot be placed in space")
    headers = []
    for frame in range(count):
        items = functional_items(ds, frame)
        position = group_item(items, "PlanePositionSequence")
        orientation = group_item(items, "PlaneOrientationSequence")
        measures = group_item(items, "PixelMeasuresSequence")
        transform = group_item(items, "PixelValueTransformationSequence")
        echo = reader.optional_text("EffectiveEchoTime", group_item(items, "MREchoSequence"))
        content = group_item(items, "FrameContentSequence")
        temporal = reader.optional_text("TemporalPositionIndex", content)
        diffusion = group_item(items, "MRDiffusionSequence")
        b_value = _b_value(ds, reader, diffusion)
        headers.append(FrameHeader(
            source=source, frame=frame,
            position=reader.vector("ImagePositionPatient", 3, position)
            if position is not None else reader.vector("ImagePositionPatient", 3),
            orientation=reader.vector("ImageOrientationPatient", 6, orientation)
            if orientation is not None else reader.vector("ImageOrientationPatient", 6),
            pixel_spacing=_spacing(reader, measures),
            slice_thickness=_first_of(
                reader.optional_number("SliceThickness", measures) if measures is not None
                else None,
                reader.optional_number("SliceThickness")),
            rescale=_rescale(reader, transform),
            echo=("EffectiveEchoTime", echo) if echo else None,
            temporal=("TemporalPositionIndex", temporal) if temporal else None,
            acquisition=_pair("FrameAcquisitionNumber",
                              reader.optional_text("FrameAcquisitionNumber", content)),
            b_value=b_value,
            diffusion=_diffusion(source, reader, diffusion, b_value),
        ))
    return headers


def _first_of(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _spacing(reader: ValueReader, measures: Dataset | None) -> tuple[float, ...] | None:
    spacing = (reader.vector("PixelSpacing", 2, measures) if measures is not None else None) \
        or reader.vector("PixelSpacing", 2)
    if spacing is not None and min(spacing) <= 0:
        raise NotDicomError.at(file_field(reader.index),
                               f"PixelSpacing of '{reader.name}' must be positive")
    return spacing


def _rescale(reader: ValueReader, transform: Dataset | None) -> tuple[float, float]:
    """(slope, intercept): the frame's own transformation, else the file's, else identity."""
    own = transform is not None
    slope = _first_of(reader.number("RescaleSlope", transform) if own else None,
                      reader.number("RescaleSlope"))
    intercept = _first_of(reader.number("RescaleIntercept", transform) if own else None,
                          reader.number("RescaleIntercept"))
    return (1.0 if slope is None else slope, 0.0 if intercept is None else intercept)


def _pair(keyword: str, value: str | None) -> tuple[str, str] | None:
    return (keyword, value) if value else None


# Well-known private b-value elements: (group, private creator, element offset). Siemens'
# CSA header is not parsed; its classic DWI files name the b-value in SequenceName (*ep_b1000).
_PRIVATE_B_VALUES = ((0x0019, "SIEMENS MR HEADER", 0x0C), (0x0043, "GEMS_PARM_01", 0x39),
                     (0x2001, "Philips Imaging DD 001", 0x03))
_SEQUENCE_B_VALUE = re.compile(r"_b(\d+)")
_GE_B_OFFSET = 1_000_000_000  # some GE versions add 10⁹ to the b-value in (0043,xx39)


def _b_value(ds: Dataset, reader: ValueReader, diffusion: Dataset | None) -> float | None:
    """The frame's b-value: DiffusionBValue (top level or MRDiffusionSequence), then the
    well-known private elements, then Siemens' SequenceName; None when nothing says."""
    public = reader.optional_number("DiffusionBValue", diffusion) if diffusion is not None \
        else None
    if public is None:
        public = reader.optional_number("DiffusionBValue")
    if public is not None:
        return public
    for group, creator, offset in _PRIVATE_B_VALUES:
        try:
            value = _number(ds.private_block(group, creator)[offset].value)
        except Exception:  # absent, or a private value of an unexpected form: not a b-value
            continue
        if value is not None:
            return value % _GE_B_OFFSET if group == 0x0043 else value
    match = _SEQUENCE_B_VALUE.search(reader.optional_text("SequenceName") or "")
    return float(match.group(1)) if match else None


def _number(value: Any) -> float | None:
    """The first number of a private value: text (IS/DS), a number, or a 4-byte float (FL read
    as UN)."""
    if isinstance(value, bytes):
        text = value.decode("ascii", errors="replace").strip("\x00 ")
        if text and all(c in "0123456789.+-eE\\ " for c in text):
            value = text.split("\\")[0]
        elif len(value) == 4:
            value = struct.unpack("<f", value)[0]
        else:
            return None
    if isinstance(value, SequenceABC) and not isinstance(value, str):  # MultiValue, list
        value = value[0] if len(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) < 1e12 else None


def _diffusion(source: ImageObject, reader: ValueReader, diffusion: Dataset | None,
               b_value: float | None) -> bool:
    """Diffusion weighting: a b-value above 0, a DiffusionDirectionality other than NONE, a
    gradient direction, or an ImageType naming diffusion."""
    if b_value is not None and b_value > 0:
        return True
    directionality = (reader.optional_text("DiffusionDirectionality", diffusion)
                      if diffusion is not None else None) \
        or reader.optional_text("DiffusionDirectionality")
    if directionality and directionality.upper() not in ("NONE", ""):
        return True
    if "DiffusionGradientOrientation" in source.dataset:
        return True
    image_type = (source.facts.image_type or "").upper().split("\\")
    return any(v in ("DIFFUSION", "TRACEW", "ADC", "EADC") for v in image_type)
