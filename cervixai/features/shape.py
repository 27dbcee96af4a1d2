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
    count = int(mask.sum())
    if count == 0:
        return Measurements(False, 0, 0.0, 0.0, -1, (0, 0, 0, 0, 0, 0))
    box: list[int] = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        box += [int(present[0]), int(present[-1]) + 1]
    return Measurements(
        lesion_found=True,
        voxel_count=count,
        volume_ml=count * float(np.prod(spacing_mm)) / 1000.0,
        max_diameter_mm=max_inplane_diameter_mm(mask, spacing_mm[1], spacing_mm[2]),
        largest_slice_index=largest_slice_index(mask),
        bounding_box=(box[0], box[1], box[2], box[3], box[4], box[5]),
    )
