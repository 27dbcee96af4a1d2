"""Compact lesion descriptors from the normalised volume and the lesion mask.

Every feature is named, documented in docs/features.md, and computed the same way at training
and at serving time (this module is the only implementation). Groups:

* shape (3-D, from the mask and voxel spacing): volume, surface, sphericity, elongation,
  flatness, largest diameter;
* outline (2-D, slice of largest area): area, perimeter, compactness, radial irregularity;
* intensity (lesion voxels of the [0, 1] volume): mean, spread, percentiles, skewness, kurtosis,
  histogram entropy, contrast against a 2-voxel shell around the lesion;
* texture (slice of largest area): grey-level co-occurrence contrast, homogeneity, energy,
  correlation and entropy over four directions, and the mean local standard deviation.

Without a lesion every feature is 0 and ``lesion_found`` is 0.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.ndimage import binary_dilation, binary_erosion, uniform_filter

from cervixai.features.shape import largest_slice_index, max_inplane_diameter_mm

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
)
GREY_LEVELS = 16
OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))


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
