"""Lesion measurements from a binary mask and the true voxel geometry (mm, mL)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import binary_erosion
from scipy.spatial import ConvexHull, QhullError

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Measurements:
    """What the segmenter reports about a lesion mask."""

    lesion_found: bool
    voxel_count: int
    volume_ml: float
    max_diameter_mm: float        # largest in-plane (Feret) diameter over all slices
    largest_slice_index: int      # slice of largest lesion area; -1 without a lesion
    bounding_box: tuple[int, int, int, int, int, int]  # [start, stop) per axis: k, i, j


def _check(mask: BoolArray, spacing_mm: tuple[float, float, float]) -> None:
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3-D (slices, rows, columns), got shape {mask.shape}")
    if len(spacing_mm) != 3 or min(spacing_mm) <= 0:
        raise ValueError(f"spacing_mm must be three positive numbers, got {spacing_mm}")


def bounding_box(mask: BoolArray) -> tuple[slice, ...] | None:
    """The smallest box holding every true voxel (one slice per axis); None for an empty mask.

    Lesions fill a small part of the volume, so the per-component and per-slice work below runs
    on this box rather than on the whole volume (≈10× less work on a 24×256×256 series)."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        if present.size == 0:
            return None
        box.append(slice(int(present[0]), int(present[-1]) + 1))
    return tuple(box)


def largest_slice_index(mask: BoolArray) -> int:
    """The slice with the most lesion voxels (first of ties); -1 for an empty mask."""
    areas = mask.reshape(mask.shape[0], -1).sum(axis=1)
    return int(np.argmax(areas)) if areas.any() else -1


def max_inplane_diameter_mm(mask: BoolArray, row_mm: float, column_mm: float) -> float:
    """The largest distance between two lesion pixel centres in any one slice (Feret diameter),
    plus one pixel so that a single pixel measures its own width."""
    best = 0.0
    for k in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)):
        plane = mask[k]
        edge = plane & ~binary_erosion(plane)
        points = np.argwhere(edge) * np.array([row_mm, column_mm])
        if len(points) >= 3:
            with contextlib.suppress(QhullError):  # collinear: every point is on the hull
                points = points[ConvexHull(points).vertices]
        diffs = points[:, None, :] - points[None, :, :]
        best = max(best, float(np.sqrt((diffs**2).sum(-1)).max()))
    return best + min(row_mm, column_mm) if mask.any() else 0.0


def measure(mask: BoolArray, spacing_mm: tuple[float, float, float]) -> Measurements:
    """Volume, largest diameter, slice of largest area and bounding box of ``mask``."""
    _check(mask, spacing_mm)
    box = bounding_box(mask)
    if box is None:
        return Measurements(False, 0, 0.0, 0.0, -1, (0, 0, 0, 0, 0, 0))
    # Padded by one pixel in plane so that erosion sees the lesion's edge as in the whole slice.
    k, i, j = box
    rows = slice(max(0, i.start - 1), i.stop + 1)
    columns = slice(max(0, j.start - 1), j.stop + 1)
    inside = mask[k, rows, columns]
    count = int(inside.sum())
    return Measurements(
        lesion_found=True,
        voxel_count=count,
        volume_ml=count * float(np.prod(spacing_mm)) / 1000.0,
        max_diameter_mm=max_inplane_diameter_mm(inside, spacing_mm[1], spacing_mm[2]),
        largest_slice_index=k.start + largest_slice_index(inside),
        bounding_box=(k.start, k.stop, i.start, i.stop, j.start, j.stop),
    )
