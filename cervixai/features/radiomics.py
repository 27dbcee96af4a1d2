"""Compact lesion descriptors from the normalised volume and the lesion mask.

Every feature is named, defined in docs/features.md, and computed the same way at training and at
serving time (this module is the only implementation). The models are trained on features of
expert (ground-truth) contours and served on the segmenter's, so no feature reads the outermost
pixels of the mask: a contour one pixel too tight, too loose or jagged — what a network's
thresholded probabilities leave — must not make a lesion look larger-than-life irregular or
heterogeneous (docs/features.md, "Robustness to contour error", and bench/feature_sensitivity.py).
Three devices do that:

* the **regularised outline** (:func:`cervixai.features.shape.regularised`): margin and surface
  descriptors read the 0.5 level of the mask smoothed in plane by 1 mm, or the soft mask itself;
* **moments**: shape and margin descriptors sum over every voxel (moment ellipsoid, harmonics of
  the area per direction), so an edge voxel counts by its share of the lesion;
* the **core** (:func:`cervixai.features.shape.lesion_core`): intensity, texture and
  heterogeneity read only voxels at least 3 mm inside the outline and off the end slices, where a
  one-voxel error neither adds neighbouring tissue nor removes lesion.

Groups:

* shape (3-D): volume, smooth surface, ellipsoid fill, elongation, flatness, largest in-plane
  diameter, slice count;
* outline (slice of largest area): area and smooth perimeter;
* intensity (core voxels of the [0, 1] volume): mean, percentiles, skewness, histogram entropy,
  and the contrast against a ring 2–5 mm outside the lesion;
* texture (core, every slice): grey-level co-occurrence contrast, homogeneity, energy,
  correlation and entropy over four in-plane directions, grey levels relative to the core's
  median; the mean local coefficient of variation;
* margin: lobulation (harmonics 2–6 of each slice's outline about its moment ellipse) and the
  coefficient of variation of the regularised outline's normalised radius about the moment
  ellipsoid (3-D) and ellipse (per slice);
* heterogeneity (core; all ratios, so independent of the intensity scale): CV, robust CV,
  bright-focus fraction, and the spatially coherent (lag-1) CV.

Without a lesion every feature is 0 and ``lesion_found`` is 0.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.ndimage import binary_erosion, distance_transform_edt, uniform_filter

from cervixai.features.shape import (
    IN_PLANE,
    SMOOTH_MM,
    bounding_box,
    ellipsoid_cv,
    ellipsoid_fill,
    largest_slice_index,
    lesion_core,
    lobulation,
    max_inplane_diameter_mm,
    regularised,
    smooth_perimeter_mm,
    smooth_surface_mm2,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

FEATURE_NAMES: tuple[str, ...] = (
    "lesion_found",
    "shape_volume_ml", "shape_smooth_surface_mm2", "shape_ellipsoid_fill", "shape_elongation",
    "shape_flatness", "shape_max_diameter_mm", "shape_slices",
    "outline_area_mm2", "outline_smooth_perimeter_mm",
    "intensity_core_mean", "intensity_core_p10", "intensity_core_p50", "intensity_core_p90",
    "intensity_core_skewness", "intensity_core_entropy", "intensity_rim_contrast",
    "texture_core_contrast", "texture_core_homogeneity", "texture_core_energy",
    "texture_core_correlation", "texture_core_entropy", "texture_core_local_cv",
    "margin_lobulation", "margin_smooth_ellipsoid_cv", "margin_smooth_slice_ellipse_cv",
    "heterogeneity_core_cv", "heterogeneity_core_robust_cv",
    "heterogeneity_core_bright_fraction", "heterogeneity_core_lag1_cv",
)
GREY_LEVELS = 16
GREY_RANGE = (0.5, 1.5)  # texture: grey levels span this multiple of the core's median
OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))
BRIGHT = 1.5             # heterogeneity: a voxel brighter than this × the core median is a focus
RIM_MM = (2.0, 5.0)      # the ring of surrounding tissue: past the partial-volume edge
PAD_MM = 3 * SMOOTH_MM + RIM_MM[1]  # room around the lesion for the smoothing and the ring


def radiomics(volume: F32, mask: BoolArray,
              spacing_mm: tuple[float, float, float]) -> dict[str, float]:
    """Every feature of :data:`FEATURE_NAMES` for one lesion."""
    if volume.shape != mask.shape or volume.ndim != 3:
        raise ValueError(f"volume {volume.shape} and mask {mask.shape} must be the same 3-D shape")
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    box = bounding_box(mask)
    if box is None:
        return features
    features["lesion_found"] = 1.0
    # Everything below runs on the lesion's box (a few % of the volume), padded for the
    # smoothing, the ring and the slice neighbours.
    pad = int(np.ceil(PAD_MM / min(spacing_mm[1:]))) + 1
    region = (slice(max(0, box[0].start - 1), box[0].stop + 1),
              *(slice(max(0, b.start - pad), b.stop + pad) for b in box[1:]))
    lesion = mask[region]
    image = volume[region].astype(np.float64)
    soft, smooth = regularised(lesion, spacing_mm)
    core = lesion_core(lesion, spacing_mm)
    features.update(_shape(lesion, soft, smooth, spacing_mm))
    k = largest_slice_index(lesion)
    features["outline_area_mm2"] = float(lesion[k].sum() * spacing_mm[1] * spacing_mm[2])
    features["outline_smooth_perimeter_mm"] = smooth_perimeter_mm(soft[k], *spacing_mm[1:])
    features.update(_intensity(image, lesion, core, spacing_mm))
    features.update(_texture(image, core))
    features.update(_margin(smooth, spacing_mm))
    features.update(_heterogeneity(image, core))
    return {name: float(features[name]) for name in FEATURE_NAMES}


def _shape(mask: BoolArray, soft: F64, smooth: BoolArray,
           spacing_mm: tuple[float, float, float]) -> dict[str, float]:
    spacing = np.asarray(spacing_mm)
    points = np.argwhere(mask) * spacing
    if len(points) >= 3:
        eigen = np.sort(np.linalg.eigvalsh(np.cov(points.T)))[::-1].clip(min=1e-9)
    else:
        eigen = np.ones(3)
    return {
        "shape_volume_ml": len(points) * float(spacing.prod()) / 1000.0,
        "shape_smooth_surface_mm2": smooth_surface_mm2(soft, spacing_mm),
        "shape_ellipsoid_fill": ellipsoid_fill(smooth, spacing_mm),
        "shape_elongation": float(np.sqrt(eigen[1] / eigen[0])),
        "shape_flatness": float(np.sqrt(eigen[2] / eigen[0])),
        "shape_max_diameter_mm": max_inplane_diameter_mm(mask, spacing_mm[1], spacing_mm[2]),
        "shape_slices": float(mask.any(axis=(1, 2)).sum()),
    }


def _intensity(image: F64, mask: BoolArray, core: BoolArray,
               spacing_mm: tuple[float, float, float]) -> dict[str, float]:
    values = image[core]
    mean, std = float(values.mean()), float(values.std())
    skew = float(((values - mean) ** 3).mean() / std**3) if std > 0 else 0.0
    hist = np.histogram(values, bins=32, range=(0.0, 1.0))[0] / values.size
    entropy = float(-(hist[hist > 0] * np.log2(hist[hist > 0])).sum())
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    # The ring is measured from the lesion's footprint on the slice and both its neighbours: on
    # the end slices the tissue just outside the lesion's own outline is still lesion through
    # part of the 4–6 mm slab.
    footprint = mask.copy()
    footprint[1:] |= mask[:-1]
    footprint[:-1] |= mask[1:]
    ring = np.zeros(mask.shape, bool)
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        outside = distance_transform_edt(~footprint[k], sampling=spacing_mm[1:])
        ring[k] = (outside > RIM_MM[0]) & (outside <= RIM_MM[1])
    contrast = float(p50 - np.median(image[ring])) if ring.any() else 0.0
    return {"intensity_core_mean": mean, "intensity_core_p10": float(p10),
            "intensity_core_p50": float(p50), "intensity_core_p90": float(p90),
            "intensity_core_skewness": skew, "intensity_core_entropy": entropy,
            "intensity_rim_contrast": contrast}


def _texture(image: F64, core: BoolArray) -> dict[str, float]:
    median = float(np.median(image[core]))
    if median <= 0:
        return {"texture_core_contrast": 0.0, "texture_core_homogeneity": 1.0,
                "texture_core_energy": 1.0, "texture_core_correlation": 0.0,
                "texture_core_entropy": 0.0, "texture_core_local_cv": 0.0}
    # Fixed grey levels relative to the median, not the lesion's min–max: one dark pixel from
    # outside would otherwise rescale every level, and the spread itself is the signal.
    low, high = GREY_RANGE
    levels = np.clip(((image / median - low) / (high - low) * GREY_LEVELS).astype(np.int64), 0,
                     GREY_LEVELS - 1)
    glcm = np.zeros((GREY_LEVELS, GREY_LEVELS))
    _, rows, cols = image.shape
    for dr, dc in OFFSETS:
        r0, r1 = max(0, -dr), rows - max(0, dr)
        c0, c1 = max(0, -dc), cols - max(0, dc)
        a = (slice(None), slice(r0, r1), slice(c0, c1))
        b = (slice(None), slice(r0 + dr, r1 + dr), slice(c0 + dc, c1 + dc))
        both = core[a] & core[b]
        np.add.at(glcm, (levels[a][both], levels[b][both]), 1)
    glcm = glcm + glcm.T
    # the 3×3 in-plane window of a core voxel lies inside the lesion (the core is ≥ 3 mm deep)
    local = np.sqrt(np.clip(uniform_filter(image**2, (1, 3, 3))
                            - uniform_filter(image, (1, 3, 3)) ** 2, 0, None))
    out = {"texture_core_local_cv": float(local[core].mean() / median)}
    total = glcm.sum()
    if total == 0:
        return {**out, "texture_core_contrast": 0.0, "texture_core_homogeneity": 1.0,
                "texture_core_energy": 1.0, "texture_core_correlation": 0.0,
                "texture_core_entropy": 0.0}
    p = glcm / total
    i, j = np.indices(p.shape)
    mu = (i * p).sum()
    sigma = np.sqrt(((i - mu) ** 2 * p).sum())
    nz = p[p > 0]
    return {
        **out,
        "texture_core_contrast": float(((i - j) ** 2 * p).sum()),
        "texture_core_homogeneity": float((p / (1 + np.abs(i - j))).sum()),
        "texture_core_energy": float((p**2).sum()),
        "texture_core_correlation": float(((i - mu) * (j - mu) * p).sum() / sigma**2)
        if sigma > 0 else 0.0,
        "texture_core_entropy": float(-(nz * np.log2(nz)).sum()),
    }


def _margin(smooth: BoolArray, spacing_mm: tuple[float, float, float]) -> dict[str, float]:
    spacing = np.asarray(spacing_mm)
    edge = smooth & ~binary_erosion(smooth, IN_PLANE)
    lobes, ellipse, weights = [], [], []
    for k in np.flatnonzero(smooth.any(axis=(1, 2))):
        plane = smooth[k]
        lobes.append(lobulation(plane, spacing_mm[1], spacing_mm[2]))
        ellipse.append(ellipsoid_cv(np.argwhere(plane), np.argwhere(edge[k]), spacing[1:]))
        weights.append(float(plane.sum()))  # the end slices' small outlines count by their area
    return {
        "margin_lobulation": float(np.average(lobes, weights=weights)),
        "margin_smooth_ellipsoid_cv": ellipsoid_cv(np.argwhere(smooth), np.argwhere(edge),
                                                   spacing),
        "margin_smooth_slice_ellipse_cv": float(np.average(ellipse, weights=weights)),
    }


def _heterogeneity(image: F64, core: BoolArray) -> dict[str, float]:
    values = image[core]
    median = float(np.median(values))
    if median <= 0:
        return {"heterogeneity_core_cv": 0.0, "heterogeneity_core_robust_cv": 0.0,
                "heterogeneity_core_bright_fraction": 0.0, "heterogeneity_core_lag1_cv": 0.0}
    q25, q75 = np.percentile(values, [25, 75])
    dim = core & (image <= BRIGHT * median)
    covariances = []
    for axis in (1, 2):
        head = tuple(slice(0, -1) if a == axis else slice(None) for a in range(3))
        tail = tuple(slice(1, None) if a == axis else slice(None) for a in range(3))
        both = dim[head] & dim[tail]
        if both.sum() >= 2:
            a, b = image[head][both], image[tail][both]
            covariances.append(float(((a - a.mean()) * (b - b.mean())).mean()))
    lag1 = max(float(np.mean(covariances)), 0.0) if covariances else 0.0
    return {
        "heterogeneity_core_cv": float(values.std() / values.mean()),
        "heterogeneity_core_robust_cv": float((q75 - q25) / median),
        "heterogeneity_core_bright_fraction": float((values > BRIGHT * median).mean()),
        "heterogeneity_core_lag1_cv": float(np.sqrt(lag1) / median),
    }
