"""Where the output voxels lie in the patient: the volume's geometry and the in-plane fit.

Index conventions: a volume is indexed ``[k, i, j]`` = (slice, row, column). Moving one row (``i``)
goes ``spacing_mm[1]`` mm along ``column_direction``; moving one column (``j``) goes
``spacing_mm[2]`` mm along ``row_direction`` (DICOM's ImageOrientationPatient names the
directions after what varies along them: the first triplet runs along a row, i.e. with the column
index). Coordinates are DICOM patient coordinates (LPS, mm) of voxel centres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from cervixai.grid import IN_PLANE

Vector = tuple[float, float, float]
InPlaneHandling = Literal["as-is", "centre-cropped", "resampled"]
Orientation = Literal["sagittal", "coronal", "axial", "oblique"]

_AXIS_LABELS: tuple[Orientation, Orientation, Orientation] = ("sagittal", "coronal", "axial")
OBLIQUE_BELOW = 0.8  # a slice normal whose largest LPS component is smaller is oblique
CROP_FROM = 320  # the study centre-cropped 320×320 acquisitions to the model's 256×256


@dataclass(frozen=True)
class Geometry:
    """The patient-space placement of an output volume's voxels."""

    spacing_mm: Vector  # distance between adjacent slices, rows and columns
    origin_mm: Vector  # LPS position of the centre of voxel [0, 0, 0]
    row_direction: Vector  # unit vector along increasing column index j
    column_direction: Vector  # unit vector along increasing row index i
    slice_direction: Vector  # unit vector along increasing slice index k

    def voxel_volume_ml(self) -> float:
        """The volume of one voxel in millilitres (cm³)."""
        return float(np.prod(self.spacing_mm)) / 1000.0

    def _axes(self) -> npt.NDArray[np.float64]:
        """3×3 matrix whose columns map (k, i, j) index steps to millimetres in LPS."""
        return np.column_stack([
            np.asarray(self.slice_direction) * self.spacing_mm[0],
            np.asarray(self.column_direction) * self.spacing_mm[1],
            np.asarray(self.row_direction) * self.spacing_mm[2],
        ])

    def index_to_patient(self, index: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """LPS millimetres of (possibly fractional) voxel index ``(k, i, j)``."""
        return np.asarray(self.origin_mm) + self._axes() @ np.asarray(index, dtype=np.float64)

    def patient_to_index(self, point_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The fractional voxel index ``(k, i, j)`` of an LPS point."""
        offset = np.asarray(point_mm, dtype=np.float64) - np.asarray(self.origin_mm)
        solved: npt.NDArray[np.float64] = np.linalg.solve(self._axes(), offset)
        return solved

    @property
    def orientation(self) -> Orientation:
        return orientation_label(self.slice_direction)


def orientation_label(normal: npt.ArrayLike) -> Orientation:
    """sagittal / coronal / axial from the slice normal's dominant LPS axis; oblique when the
    dominant component is below 0.8."""
    vector = np.abs(np.asarray(normal, dtype=np.float64))
    length = float(np.linalg.norm(vector))
    if length == 0:
        return "oblique"
    axis = int(np.argmax(vector))
    return _AXIS_LABELS[axis] if vector[axis] / length >= OBLIQUE_BELOW else "oblique"


@dataclass(frozen=True)
class InPlaneFit:
    """How a rows × columns image becomes size × size, and where its pixels then lie.

    ``row_offset_mm`` / ``column_offset_mm`` are how far the centre of output pixel (0, 0) lies
    from the centre of input pixel (0, 0), along the column and row directions respectively.
    """

    handling: InPlaneHandling
    rows: int
    columns: int
    size: int
    row_spacing_mm: float  # output spacing between rows
    column_spacing_mm: float  # output spacing between columns
    row_offset_mm: float
    column_offset_mm: float

    def apply(self, images: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Fit images shaped (..., rows, columns) to (..., size, size)."""
        if self.handling == "as-is":
            return images
        if self.handling == "centre-cropped":
            top = (self.rows - self.size) // 2
            left = (self.columns - self.size) // 2
            return images[..., top:top + self.size, left:left + self.size]
        return _resample_axis(_resample_axis(images, self.size, axis=-2), self.size, axis=-1)

    def origin(self, first_pixel_mm: Vector, row_direction: Vector,
               column_direction: Vector) -> Vector:
        """The LPS centre of output pixel (0, 0) given that of input pixel (0, 0)."""
        moved = (np.asarray(first_pixel_mm)
                 + self.row_offset_mm * np.asarray(column_direction)
                 + self.column_offset_mm * np.asarray(row_direction))
        return as_vector(moved)


def plan_in_plane(rows: int, columns: int, row_spacing_mm: float, column_spacing_mm: float,
                  size: int = IN_PLANE) -> InPlaneFit:
    """size × size is kept, 320 × 320 (with size 256) is centre-cropped, anything else is
    resampled linearly over its full field of view."""
    if rows == columns == size:
        return InPlaneFit("as-is", rows, columns, size, row_spacing_mm, column_spacing_mm,
                          0.0, 0.0)
    if rows == columns == CROP_FROM and size == IN_PLANE:
        margin = (CROP_FROM - size) // 2
        return InPlaneFit("centre-cropped", rows, columns, size, row_spacing_mm,
                          column_spacing_mm, margin * row_spacing_mm, margin * column_spacing_mm)
    new_row = row_spacing_mm * rows / size
    new_column = column_spacing_mm * columns / size
    return InPlaneFit("resampled", rows, columns, size, new_row, new_column,
                      new_row / 2 - row_spacing_mm / 2, new_column / 2 - column_spacing_mm / 2)


def _resample_axis(images: npt.NDArray[np.float64], size: int,
                   axis: int) -> npt.NDArray[np.float64]:
    """Linear interpolation along one axis so that ``size`` pixels cover the same field of view:
    output pixel ``p`` samples input coordinate (p + 0.5) · n / size − 0.5, clamped to the edges."""
    n = images.shape[axis]
    where = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0.0, n - 1.0)
    below = np.floor(where).astype(np.intp)
    above = np.minimum(below + 1, n - 1)
    weight = where - below
    moved = np.moveaxis(images, axis, -1)
    out = moved[..., below] * (1.0 - weight) + moved[..., above] * weight
    return np.moveaxis(out, -1, axis)


def unit(vector: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array = np.asarray(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


def as_vector(array: npt.ArrayLike) -> Vector:
    """A 3-vector as a tuple of Python floats (for frozen dataclasses and repr; no −0.0)."""
    x, y, z = (float(v) + 0.0 for v in np.asarray(array, dtype=np.float64).reshape(3))
    return (x, y, z)
