"""Lesion measurements from a binary mask and the true voxel geometry (mm, mL).

Besides the segmenter's measurements (:func:`measure`), the mask-only pieces of the radiomics
(:mod:`cervixai.features.radiomics`) that must not move with a one-voxel contour error: the
regularised outline, the lesion core, and moment-based descriptors of the margin. Each integrates
over the lesion rather than reading its outermost pixels, so a pixel more or less, or a jagged
outline, moves it by about the pixel's share of the lesion.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import binary_erosion, distance_transform_edt, gaussian_filter
from scipy.spatial import ConvexHull, QhullError

BoolArray = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]
Spacing = tuple[float, float, float]

# In-plane Gaussian (mm) that regularises the outline: wider than a pixel (0.6–1 mm), so that a
# jagged or shifted edge pixel is averaged away, and narrower than the lobes the margin
# descriptors look for (≥ 5 mm apart even on a 1 cm lesion). Thick slices are not smoothed across.
SMOOTH_MM = 1.0
# The core: voxels at least this deep (mm, in plane) and not on the lesion's first or last slice —
# deeper than the partial-volume edge (≈1 mm) plus a pixel of contour error on either side.
CORE_DEPTH_MM = 3.0
CORE_MIN_VOXELS = 40     # a lesion too small for that keeps its deepest voxels instead
HARMONICS = range(2, 7)  # lobes per turn that count as lobulation; higher ones are pixel noise
IN_PLANE = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool)  # 4-neighbourhood per slice


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


def regularised(mask: BoolArray, spacing_mm: Spacing) -> tuple[F64, BoolArray]:
    """The mask smoothed in plane by :data:`SMOOTH_MM` (a soft mask in [0, 1]) and its 0.5 level
    set: the outline with pixel-scale notches, spurs and jags removed. A lesion too small to
    survive the smoothing keeps its own mask."""
    soft: F64 = gaussian_filter(mask.astype(np.float64),
                                (0.0, SMOOTH_MM / spacing_mm[1], SMOOTH_MM / spacing_mm[2]))
    smooth: BoolArray = soft >= 0.5
    return soft, smooth if smooth.any() else mask.copy()


def inplane_depth_mm(mask: BoolArray, spacing_mm: Spacing) -> F64:
    """Each lesion voxel's distance (mm) to the nearest non-lesion pixel of its own slice."""
    depth = np.zeros(mask.shape)
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        depth[k] = distance_transform_edt(mask[k], sampling=spacing_mm[1:])
    return depth


def lesion_core(mask: BoolArray, spacing_mm: Spacing) -> BoolArray:
    """The lesion's interior, where the intensity is the lesion's whatever a one-voxel contour
    error does: voxels at least :data:`CORE_DEPTH_MM` inside the outline in plane, with lesion
    in both neighbouring slices (the first and last slices are mostly partial volume with 4–6 mm
    slices). A lesion with fewer such voxels than :data:`CORE_MIN_VOXELS` keeps that many of
    its deepest voxels, those off the end slices first."""
    depth = inplane_depth_mm(mask, spacing_mm)
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[[0, -1]] = False
    # an end-slice voxel ranks below every interior one
    score = np.where(inner, depth, np.where(mask, depth - 1e6, -np.inf))
    core: BoolArray = score >= CORE_DEPTH_MM
    if core.sum() < CORE_MIN_VOXELS:
        ranked = np.sort(score[mask])[::-1]
        core = mask & (score >= ranked[min(CORE_MIN_VOXELS, ranked.size) - 1])
    return core


def smooth_surface_mm2(soft: F64, spacing_mm: Spacing) -> float:
    """Surface area of a soft mask: the integral of its gradient's magnitude (by the coarea
    formula, the mean area of its level sets) — no staircase of voxel faces, no jags."""
    padded = np.pad(soft, ((1, 1), (0, 0), (0, 0)))  # caps on a lesion at the first/last slice
    gradient = np.gradient(padded, *spacing_mm)
    magnitude = np.sqrt(sum(g**2 for g in gradient))
    return float(magnitude.sum() * np.prod(spacing_mm))


def smooth_perimeter_mm(soft_plane: F64, row_mm: float, column_mm: float) -> float:
    """Perimeter of one slice of a soft mask, as :func:`smooth_surface_mm2` in 2-D."""
    gradient = np.gradient(soft_plane, row_mm, column_mm)
    return float(np.sqrt(gradient[0] ** 2 + gradient[1] ** 2).sum() * row_mm * column_mm)


def ellipsoid_fill(mask: BoolArray, spacing_mm: Spacing) -> float:
    """Lesion volume over the volume of its moment ellipsoid (the solid ellipsoid with the same
    second moments, the voxel boxes' own extent included): 1 for an ellipsoid of any size, axis
    ratio or orientation, less for a lobulated or notched lesion, which spreads its volume
    further from its centre. Moments sum every voxel, so an edge voxel counts by its share."""
    spacing = np.asarray(spacing_mm)
    points = np.argwhere(mask) * spacing
    volume = len(points) * float(spacing.prod())
    cov = np.cov(points.T, bias=True).reshape(3, 3) if len(points) > 1 else np.zeros((3, 3))
    ellipsoid = 4 / 3 * np.pi * np.sqrt(max(float(np.linalg.det(
        5 * (cov + np.diag(spacing**2 / 12)))), 0.0))
    return volume / ellipsoid if ellipsoid > 0 else 1.0


def lobulation(plane: BoolArray, row_mm: float, column_mm: float) -> float:
    """How far one slice's outline departs from an ellipse, in lobes: the RMS over n in
    :data:`HARMONICS` of |the n-th Fourier coefficient| of the lesion's share of area per
    direction, seen from the centroid in coordinates where its moment ellipse is a circle.

    A shape whose radius is r(θ) = R(1 + ε cos nθ) scores ε; an ellipse of any axis ratio scores
    0 (whitening makes it a circle). Each pixel adds e^{−inθ} by its area, so a pixel more or
    less all round (erosion, dilation) rescales the score by about a pixel over the radius, and
    jags between adjacent pixels cancel."""
    cells = np.argwhere(plane)
    if len(cells) < 6:
        return 0.0
    points = cells * np.array([row_mm, column_mm])
    offsets = points - points.mean(axis=0)
    cov = offsets.T @ offsets / len(points) + np.diag([row_mm**2, column_mm**2]) / 12
    values, vectors = np.linalg.eigh(cov)
    white = offsets @ vectors / np.sqrt(values)
    theta = np.arctan2(white[:, 1], white[:, 0])
    coefficients = [np.exp(-1j * n * theta).mean() for n in HARMONICS]
    return float(np.sqrt(np.sum(np.abs(coefficients) ** 2)))


def ellipsoid_cv(inside: npt.NDArray[np.intp], edge: npt.NDArray[np.intp],
                 spacing: F64) -> float:
    """Coefficient of variation of the ``edge`` cells' normalised radius ρ = sqrt(dᵀ((d+2)Σ)⁻¹d)
    about the moment ellipsoid (ellipse in 2-D) of the ``inside`` cells: 0 for an ellipsoid of
    any size, orientation or axis ratio (a solid ellipsoid in d dimensions has covariance
    a²/(d + 2) per axis), so it measures lobulation, not shape."""
    if len(edge) < 4:
        return 0.0
    points = inside * spacing
    centre = points.mean(axis=0)
    dims = inside.shape[1]
    # voxel positions plus their uniform extent: the moments of the voxel boxes themselves
    cov = np.cov(points.T, bias=True).reshape(dims, dims) + np.diag(spacing**2 / 12)
    offsets = edge * spacing - centre
    try:
        inverse = np.linalg.inv((dims + 2) * cov)
    except np.linalg.LinAlgError:
        return 0.0
    rho = np.sqrt(np.einsum("ij,jk,ik->i", offsets, inverse, offsets).clip(min=0))
    return float(rho.std() / rho.mean()) if rho.mean() > 0 else 0.0
