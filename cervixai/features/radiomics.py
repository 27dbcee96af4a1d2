"""Compact lesion descriptors from the normalised volume and the lesion mask.

Every feature is named, documented in docs/features.md, and computed the same way at training
and at serving time (this module is the only implementation). Groups:

* shape (3-D, from the mask and voxel spacing): volume, surface, sphericity, elongation,
  flatness, largest diameter;
* outline (2-D, slice of largest area): area, perimeter, compactness, radial irregularity;
* intensity (lesion voxels of the [0, 1] volume): mean, spread, percentiles, skewness, kurtosis,
  histogram entropy, contrast against a 2-voxel shell around the lesion;
* texture (slice of largest area): grey-level co-occurrence contrast, homogeneity, energy,
  correlation and entropy over four directions, and the mean local standard deviation;
* margin (every slice, and 3-D): how far the boundary departs from a smooth convex ellipsoid —

  - ``margin_solidity``: lesion volume over the volume of the convex hull of its voxels (each
    voxel a box of the voxel spacing), lower when lobulated or notched; the staircase of the
    voxel boxes keeps it below 1 even for a convex lesion (≈0.9 for a voxelised ball, ≈0.8
    with 5 mm slices), so it compares lesions imaged with like voxels;
  - ``margin_ellipsoid_cv``: coefficient of variation of the in-plane boundary voxels'
    normalised radius ρ = sqrt(dᵀ(5Σ)⁻¹d) about the moment ellipsoid (Σ the covariance of the
    lesion's voxel positions in mm, d a boundary voxel's offset from the centroid): 0 for an
    ellipsoid of any size, orientation or axis ratio, so it measures lobulation, not shape;
  - ``margin_slice_solidity`` and ``margin_slice_ellipse_cv``: the same in 2-D on each slice
    (area over convex-hull area of the pixel squares; CV of ρ = sqrt(dᵀ(4Σ)⁻¹d) about the
    slice's moment ellipse), averaged over the slices weighted by lesion area — with thick
    slices the in-plane outline carries most of the margin's shape;

* heterogeneity (interior voxels: the lesion eroded by one pixel in plane, so that the partial
  volume at the edge does not count; all ratios, so independent of the intensity scale):

  - ``heterogeneity_cv``: standard deviation over mean;
  - ``heterogeneity_robust_cv``: interquartile range over median, little moved by a few
    outliers;
  - ``heterogeneity_bright_fraction``: the share of voxels brighter than 1.5 × the median
    (necrotic or cystic foci on T2);
  - ``heterogeneity_lag1_cv``: the square root of the in-plane lag-1 autocovariance of the
    voxels at most 1.5 × the median, over the median — the spatially coherent part of the
    spread; white (thermal) noise has no lag-1 covariance and drops out.

Without a lesion every feature is 0 and ``lesion_found`` is 0.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.ndimage import binary_dilation, binary_erosion, uniform_filter
from scipy.spatial import ConvexHull, QhullError

from cervixai.features.shape import bounding_box, largest_slice_index, max_inplane_diameter_mm

F32 = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

FEATURE_NAMES: tuple[str, ...] = (
    "lesion_found",
    "shape_volume_ml", "shape_surface_mm2", "shape_sphericity", "shape_elongation",
    "shape_flatness", "shape_max_diameter_mm", "shape_slices",
    "outline_area_mm2", "outline_perimeter_mm", "outline_compactness", "outline_radial_cv",
    "intensity_mean", "intensity_std", "intensity_p10", "intensity_p50", "intensity_p90",
    "intensity_skewness", "intensity_kurtosis", "intensity_entropy", "intensity_shell_contrast",
    "texture_contrast", "texture_homogeneity", "texture_energy", "texture_correlation",
    "texture_entropy", "texture_local_std",
    "margin_solidity", "margin_ellipsoid_cv", "margin_slice_solidity", "margin_slice_ellipse_cv",
    "heterogeneity_cv", "heterogeneity_robust_cv", "heterogeneity_bright_fraction",
    "heterogeneity_lag1_cv",
)
GREY_LEVELS = 16
OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))
BRIGHT = 1.5            # heterogeneity: a voxel brighter than this × the interior median is a focus
IN_PLANE = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool)  # 4-neighbourhood per slice


def radiomics(volume: F32, mask: BoolArray,
              spacing_mm: tuple[float, float, float]) -> dict[str, float]:
    """Every feature of :data:`FEATURE_NAMES` for one lesion."""
    if volume.shape != mask.shape or volume.ndim != 3:
        raise ValueError(f"volume {volume.shape} and mask {mask.shape} must be the same 3-D shape")
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    if not mask.any():
        return features
    features["lesion_found"] = 1.0
    features.update(_shape(mask, spacing_mm))
    k = largest_slice_index(mask)
    features.update(_outline(mask[k], spacing_mm[1], spacing_mm[2]))
    features.update(_intensity(volume, mask))
    features.update(_texture(volume[k], mask[k]))
    box = bounding_box(mask)
    assert box is not None
    padded = tuple(slice(max(0, b.start - 1), b.stop + 1) for b in box)
    features.update(_margin(mask[padded], spacing_mm))
    features.update(_heterogeneity(volume[padded], mask[padded]))
    return {name: float(features[name]) for name in FEATURE_NAMES}


def _surface_mm2(mask: BoolArray, spacing: tuple[float, float, float]) -> float:
    """Area of the exposed voxel faces."""
    padded = np.pad(mask, 1)
    ds, dr, dc = spacing
    face = {0: dr * dc, 1: ds * dc, 2: ds * dr}
    return float(sum(np.count_nonzero(np.diff(padded.astype(np.int8), axis=a)) * face[a]
                     for a in range(3)))


def _shape(mask: BoolArray, spacing: tuple[float, float, float]) -> dict[str, float]:
    volume_mm3 = mask.sum() * float(np.prod(spacing))
    surface = _surface_mm2(mask, spacing)
    points = np.argwhere(mask) * np.asarray(spacing)
    if len(points) >= 3:
        eigen = np.sort(np.linalg.eigvalsh(np.cov(points.T)))[::-1].clip(min=1e-9)
    else:
        eigen = np.ones(3)
    return {
        "shape_volume_ml": volume_mm3 / 1000.0,
        "shape_surface_mm2": surface,
        "shape_sphericity": float(np.pi ** (1 / 3) * (6 * volume_mm3) ** (2 / 3) / surface),
        "shape_elongation": float(np.sqrt(eigen[1] / eigen[0])),
        "shape_flatness": float(np.sqrt(eigen[2] / eigen[0])),
        "shape_max_diameter_mm": max_inplane_diameter_mm(mask, spacing[1], spacing[2]),
        "shape_slices": float(mask.any(axis=(1, 2)).sum()),
    }


def _outline(plane: BoolArray, row_mm: float, column_mm: float) -> dict[str, float]:
    area = plane.sum() * row_mm * column_mm
    padded = np.pad(plane, 1).astype(np.int8)
    perimeter = (np.count_nonzero(np.diff(padded, axis=0)) * column_mm
                 + np.count_nonzero(np.diff(padded, axis=1)) * row_mm)
    # face counting overestimates a smooth outline by 4/π on average
    perimeter *= np.pi / 4
    edge = np.argwhere(plane & ~binary_erosion(plane)) * np.array([row_mm, column_mm])
    centre = np.argwhere(plane).mean(axis=0) * np.array([row_mm, column_mm])
    radii = np.sqrt(((edge - centre) ** 2).sum(axis=1))
    return {
        "outline_area_mm2": float(area),
        "outline_perimeter_mm": float(perimeter),
        "outline_compactness": float(4 * np.pi * area / perimeter**2) if perimeter else 0.0,
        "outline_radial_cv": float(radii.std() / radii.mean()) if radii.mean() > 0 else 0.0,
    }


def _intensity(volume: F32, mask: BoolArray) -> dict[str, float]:
    values = volume[mask].astype(np.float64)
    mean, std = float(values.mean()), float(values.std())
    centred = values - mean
    skew = float((centred**3).mean() / std**3) if std > 0 else 0.0
    kurt = float((centred**4).mean() / std**4 - 3) if std > 0 else 0.0
    hist = np.histogram(values, bins=32, range=(0.0, 1.0))[0] / values.size
    entropy = float(-(hist[hist > 0] * np.log2(hist[hist > 0])).sum())
    shell = binary_dilation(mask, iterations=2) & ~mask
    contrast = mean - float(volume[shell].mean()) if shell.any() else 0.0
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"intensity_mean": mean, "intensity_std": std, "intensity_p10": float(p10),
            "intensity_p50": float(p50), "intensity_p90": float(p90), "intensity_skewness": skew,
            "intensity_kurtosis": kurt, "intensity_entropy": entropy,
            "intensity_shell_contrast": contrast}


def _texture(image: F32, plane: BoolArray) -> dict[str, float]:
    values = image[plane]
    lo, hi = float(values.min()), float(values.max())
    levels = np.zeros(image.shape, dtype=np.int64)
    if hi > lo:
        levels = np.clip(((image - lo) / (hi - lo) * GREY_LEVELS).astype(np.int64), 0,
                         GREY_LEVELS - 1)
    glcm = np.zeros((GREY_LEVELS, GREY_LEVELS))
    rows, cols = image.shape
    for dr, dc in OFFSETS:
        r0, r1 = max(0, -dr), rows - max(0, dr)
        c0, c1 = max(0, -dc), cols - max(0, dc)
        a = (slice(r0, r1), slice(c0, c1))
        b = (slice(r0 + dr, r1 + dr), slice(c0 + dc, c1 + dc))
        both = plane[a] & plane[b]
        np.add.at(glcm, (levels[a][both], levels[b][both]), 1)
    glcm = glcm + glcm.T
    total = glcm.sum()
    local = np.sqrt(np.clip(uniform_filter(image.astype(np.float64) ** 2, 3)
                            - uniform_filter(image.astype(np.float64), 3) ** 2, 0, None))
    out = {"texture_local_std": float(local[plane].mean())}
    if total == 0:
        return {**out, "texture_contrast": 0.0, "texture_homogeneity": 1.0,
                "texture_energy": 1.0, "texture_correlation": 0.0, "texture_entropy": 0.0}
    p = glcm / total
    i, j = np.indices(p.shape)
    mu = (i * p).sum()
    sigma = np.sqrt(((i - mu) ** 2 * p).sum())
    nz = p[p > 0]
    return {
        **out,
        "texture_contrast": float(((i - j) ** 2 * p).sum()),
        "texture_homogeneity": float((p / (1 + np.abs(i - j))).sum()),
        "texture_energy": float((p**2).sum()),
        "texture_correlation": float(((i - mu) * (j - mu) * p).sum() / sigma**2)
        if sigma > 0 else 0.0,
        "texture_entropy": float(-(nz * np.log2(nz)).sum()),
    }


def _hull_volume(points: npt.NDArray[np.float64]) -> float:
    """Volume (area in 2-D) of the convex hull of ``points``; 0 when they are degenerate."""
    try:
        return float(ConvexHull(points).volume)
    except QhullError:
        return 0.0


def _box_corners(cells: npt.NDArray[np.intp], spacing: npt.NDArray[np.float64]
                 ) -> npt.NDArray[np.float64]:
    """The corners (mm) of the voxel (pixel) boxes centred on ``cells``."""
    dims = cells.shape[1]
    offsets = np.array(np.meshgrid(*([(-0.5, 0.5)] * dims), indexing="ij")).reshape(dims, -1).T
    corners: npt.NDArray[np.float64] = ((cells[:, None, :] + offsets[None]).reshape(-1, dims)
                                        * spacing)
    return corners


def _ellipsoid_cv(inside: npt.NDArray[np.intp], edge: npt.NDArray[np.intp],
                  spacing: npt.NDArray[np.float64]) -> float:
    """CV of the normalised radius of the ``edge`` cells about the moment ellipsoid (ellipse) of
    the ``inside`` cells; a solid ellipsoid in d dimensions has covariance a²/(d + 2) per axis."""
    if len(edge) < 4:
        return 0.0
    points = inside * spacing
    centre = points.mean(axis=0)
    dims = inside.shape[1]
    # voxel positions plus their uniform extent: the moments of the voxel boxes themselves
    cov = (np.cov(points.T, bias=True).reshape(dims, dims) + np.diag(spacing**2 / 12))
    offsets = edge * spacing - centre
    try:
        inverse = np.linalg.inv((dims + 2) * cov)
    except np.linalg.LinAlgError:
        return 0.0
    rho = np.sqrt(np.einsum("ij,jk,ik->i", offsets, inverse, offsets).clip(min=0))
    return float(rho.std() / rho.mean()) if rho.mean() > 0 else 0.0


def _margin(mask: BoolArray, spacing_mm: tuple[float, float, float]) -> dict[str, float]:
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    edge = mask & ~binary_erosion(mask, IN_PLANE)
    edge_cells = np.argwhere(edge)
    hull = _hull_volume(_box_corners(edge_cells, spacing))
    volume = float(mask.sum() * spacing.prod())
    solidity, ellipse, weights = [], [], []
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        plane, plane_edge = mask[k], np.argwhere(edge[k])
        area = float(plane.sum() * spacing[1] * spacing[2])
        plane_hull = _hull_volume(_box_corners(plane_edge, spacing[1:]))
        solidity.append(min(1.0, area / plane_hull) if plane_hull > 0 else 1.0)
        ellipse.append(_ellipsoid_cv(np.argwhere(plane), plane_edge, spacing[1:]))
        weights.append(area)
    return {
        "margin_solidity": min(1.0, volume / hull) if hull > 0 else 1.0,
        "margin_ellipsoid_cv": _ellipsoid_cv(np.argwhere(mask), edge_cells, spacing),
        "margin_slice_solidity": float(np.average(solidity, weights=weights)),
        "margin_slice_ellipse_cv": float(np.average(ellipse, weights=weights)),
    }


def _heterogeneity(volume: F32, mask: BoolArray) -> dict[str, float]:
    inner = binary_erosion(mask, IN_PLANE)
    if inner.sum() < 10:  # too small to have an interior: every lesion voxel counts
        inner = mask
    values = volume[inner].astype(np.float64)
    median = float(np.median(values))
    if median <= 0:
        return {"heterogeneity_cv": 0.0, "heterogeneity_robust_cv": 0.0,
                "heterogeneity_bright_fraction": 0.0, "heterogeneity_lag1_cv": 0.0}
    q25, q75 = np.percentile(values, [25, 75])
    image = volume.astype(np.float64)
    core = inner & (image <= BRIGHT * median)
    covariances = []
    for axis in (1, 2):
        head = tuple(slice(0, -1) if a == axis else slice(None) for a in range(3))
        tail = tuple(slice(1, None) if a == axis else slice(None) for a in range(3))
        both = core[head] & core[tail]
        if both.sum() >= 2:
            a, b = image[head][both], image[tail][both]
            covariances.append(float(((a - a.mean()) * (b - b.mean())).mean()))
    lag1 = max(float(np.mean(covariances)), 0.0) if covariances else 0.0
    return {
        "heterogeneity_cv": float(values.std() / values.mean()),
        "heterogeneity_robust_cv": float((q75 - q25) / median),
        "heterogeneity_bright_fraction": float((values > BRIGHT * median).mean()),
        "heterogeneity_lag1_cv": float(np.sqrt(lag1) / median),
    }
