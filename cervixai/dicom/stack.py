"""Ordering a series' frames into one regular stack of slices, and refusing those that are not.

Slices are sorted by their position along the slice normal, ``dot(ImagePositionPatient,
row_direction × column_direction)`` — never by file name or InstanceNumber, which scanners and
exporters do not keep in spatial order. The slice spacing is the median gap between sorted
positions; SpacingBetweenSlices is not trusted over them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cervixai.dicom.errors import InconsistentSeriesError, NotDicomError
from cervixai.dicom.frames import FrameHeader
from cervixai.dicom.geometry import Vector, as_vector, unit
from cervixai.dicom.repeats import check_one_image_per_position

SPACING_TOLERANCE = 1e-3  # relative, between slices' PixelSpacing
ORIENTATION_TOLERANCE = 1e-4  # absolute, per direction cosine
GAP_WARNING = 0.10  # gaps deviating from the median by more than this fraction warn
GAP_ERROR = 0.50  # ... and by more than this fraction are refused
DEFAULT_SPACING_MM = 1.0  # for a single slice without SliceThickness or PixelSpacing
_DEFAULT_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_REQUIRED = {"position": "ImagePositionPatient (0020,0032)",
             "orientation": "ImageOrientationPatient (0020,0037)",
             "pixel_spacing": "PixelSpacing (0028,0030)"}


@dataclass(frozen=True)
class Stack:
    """A series' frames in spatial order with the geometry of the input (before in-plane fit)."""

    frames: tuple[FrameHeader, ...]
    rows: int
    columns: int
    spacing_mm: Vector  # (slice, row, column)
    first_position_mm: Vector  # centre of pixel (0, 0) of the first sorted slice
    row_direction: Vector
    column_direction: Vector
    slice_direction: Vector
    warnings: tuple[str, ...]


def build_stack(frames: Sequence[FrameHeader]) -> Stack:
    """Check that ``frames`` form one regular volume and sort them along the slice normal."""
    rows, columns = _common_matrix(frames)
    if len(frames) == 1:
        return _single_slice(frames[0], rows, columns)
    positions, spacings = _required_geometry(frames)
    _check_same(frames, "PixelSpacing", [f.pixel_spacing for f in frames], _spacing_equal)
    _check_same(frames, "ImageOrientationPatient", [f.orientation for f in frames],
                _orientation_equal)
    row, column = _directions(frames[0])
    normal = unit(np.cross(row, column))
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    ordered = [frames[i] for i in order]
    distances = along[order]
    check_one_image_per_position(ordered, distances)
    gaps = np.diff(distances)
    spacing = float(np.median(gaps))
    warnings = _check_gaps(ordered, gaps, spacing)
    warnings += _check_in_plane_drift(ordered, positions[order], distances, normal)
    row_spacing, column_spacing = spacings[order[0]]
    return Stack(
        frames=tuple(ordered), rows=rows, columns=columns,
        spacing_mm=(spacing, float(row_spacing), float(column_spacing)),
        first_position_mm=as_vector(positions[order[0]]),
        row_direction=as_vector(row), column_direction=as_vector(column),
        slice_direction=as_vector(normal), warnings=tuple(warnings))


def _required_geometry(frames: Sequence[FrameHeader]) -> tuple[npt.NDArray[np.float64],
                                                               npt.NDArray[np.float64]]:
    """Positions (n, 3) and pixel spacings (n, 2); every frame of a multi-slice series needs
    them, and its orientation."""
    for attribute, keyword in _REQUIRED.items():
        for frame in frames:
            if getattr(frame, attribute) is None:
                raise InconsistentSeriesError.at(frame.field_name, f"{keyword} is missing from "
                                                 f"{frame.label}; it is needed to place the "
                                                 f"slices of a multi-slice series")
    return (np.array([f.position for f in frames], dtype=np.float64),
            np.array([f.pixel_spacing for f in frames], dtype=np.float64))


def _common_matrix(frames: Sequence[FrameHeader]) -> tuple[int, int]:
    first = frames[0].source
    for keyword in ("Rows", "Columns"):
        expected = getattr(first, keyword.lower())
        for frame in frames:
            found = getattr(frame.source, keyword.lower())
            if found is None:
                raise NotDicomError.at(frame.field_name, f"{keyword} is missing from "
                                       f"{frame.label}")
            if found != expected:
                raise InconsistentSeriesError.at(
                    frame.field_name, f"{keyword} is {found} in {frame.label} but {expected} in "
                    f"'{first.name}'; all slices of a series must share one matrix size")
    return int(first.rows or 0), int(first.columns or 0)


def _single_slice(frame: FrameHeader, rows: int, columns: int) -> Stack:
    warnings = []
    if frame.orientation is None:
        warnings.append("ImageOrientationPatient is missing from the only slice; axial "
                        "orientation was assumed")
    row, column = _directions(frame)
    if frame.position is None:
        warnings.append("ImagePositionPatient is missing from the only slice; the origin was "
                        "set to (0, 0, 0)")
    pixel = frame.pixel_spacing
    if pixel is None:
        warnings.append(f"PixelSpacing is missing from the only slice; {DEFAULT_SPACING_MM} mm "
                        f"was assumed")
        pixel = (DEFAULT_SPACING_MM, DEFAULT_SPACING_MM)
    if frame.slice_thickness is not None and frame.slice_thickness > 0:
        spacing = frame.slice_thickness
        warnings.append(f"the series has a single slice; its slice spacing was taken from "
                        f"SliceThickness ({spacing:g} mm)")
    else:
        spacing = DEFAULT_SPACING_MM
        warnings.append(f"the series has a single slice without SliceThickness; a slice "
                        f"spacing of {spacing:g} mm was assumed")
    return Stack(
        frames=(frame,), rows=rows, columns=columns,
        spacing_mm=(spacing, float(pixel[0]), float(pixel[1])),
        first_position_mm=as_vector(frame.position or (0.0, 0.0, 0.0)),
        row_direction=as_vector(row), column_direction=as_vector(column),
        slice_direction=as_vector(unit(np.cross(row, column))), warnings=tuple(warnings))


def _directions(frame: FrameHeader) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Row and column direction cosines, checked and made exactly orthonormal."""
    cosines = np.asarray(frame.orientation or _DEFAULT_ORIENTATION, dtype=np.float64)
    row, column = cosines[:3], cosines[3:]
    row_length, column_length = np.linalg.norm(row), np.linalg.norm(column)
    if (abs(row_length - 1) > 0.01 or abs(column_length - 1) > 0.01
            or abs(float(np.dot(row, column))) > 0.01):
        raise InconsistentSeriesError.at(frame.field_name, f"ImageOrientationPatient of "
                                         f"{frame.label} is not two perpendicular unit vectors")
    row = row / row_length
    column = column - np.dot(column, row) * row
    return row, column / np.linalg.norm(column)


def _spacing_equal(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(math.isclose(x, y, rel_tol=SPACING_TOLERANCE) for x, y in zip(a, b, strict=True))


def _orientation_equal(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(abs(x - y) <= ORIENTATION_TOLERANCE for x, y in zip(a, b, strict=True))


def _check_same(frames: Sequence[FrameHeader], keyword: str,
                values: Sequence[tuple[float, ...] | None],
                equal: Callable[[tuple[float, ...], tuple[float, ...]], bool]) -> None:
    reference = values[0]
    assert reference is not None  # checked by _required_geometry
    for frame, value in zip(frames[1:], values[1:], strict=True):
        if value is None or not equal(value, reference):
            raise InconsistentSeriesError.at(
                frame.field_name, f"{keyword} differs between {frame.label} ({_fmt(value)}) and "
                f"{frames[0].label} ({_fmt(reference)}); all slices of a series must share it "
                f"— is this file from another series or a localizer?")


def _check_gaps(ordered: Sequence[FrameHeader], gaps: npt.NDArray[np.float64],
                spacing: float) -> list[str]:
    deviation = np.abs(gaps - spacing) / spacing
    worst = int(np.argmax(deviation))
    summary = (f"gaps between consecutive slices range from {gaps.min():.2f} to "
               f"{gaps.max():.2f} mm (median {spacing:.2f} mm)")
    if deviation[worst] > GAP_ERROR:
        raise InconsistentSeriesError.at(
            "series", f"inconsistent slice spacing: {summary}; a slice is probably missing or "
            f"extra between {ordered[worst].label} and {ordered[worst + 1].label}")
    if deviation[worst] > GAP_WARNING:
        return [f"non-uniform slice spacing: {summary}; the volume assumes a regular "
                f"{spacing:.2f} mm spacing"]
    return []


def _check_in_plane_drift(ordered: Sequence[FrameHeader], positions: npt.NDArray[np.float64],
                          distances: npt.NDArray[np.float64],
                          normal: npt.NDArray[np.float64]) -> list[str]:
    """Slices of one stack line up along the normal; a sideways shift breaks the regular grid."""
    sideways = positions - positions[0] - np.outer(distances - distances[0], normal)
    drift = float(np.linalg.norm(sideways, axis=1).max())
    pixel = ordered[0].pixel_spacing
    if pixel is not None and drift > 0.5 * min(pixel):
        return [f"slice positions drift in-plane by up to {drift:.2f} mm; the volume assumes "
                f"the slices are stacked straight along the slice normal"]
    return []


def _fmt(value: tuple[float, ...] | None) -> str:
    return "missing" if value is None else ", ".join(f"{v:g}" for v in value)
