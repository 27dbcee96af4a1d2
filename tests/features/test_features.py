"""Lesion measurements and radiomics: correct on known shapes, sensitive to the image-only signal
that the synthetic cohort hides in texture and outline."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from cervix.v1 import common_pb2
from cervixai.cohort.synth.image import render
from cervixai.errors import InvalidInput
from cervixai.features import FEATURE_NAMES, extract, from_proto, image_vector, measure
from cervixai.features.radiomics import radiomics


def _ball(shape: tuple[int, int, int], centre: tuple[float, float, float],
          radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    k, i, j = np.indices(shape)
    d = (((k - centre[0]) * spacing[0]) ** 2 + ((i - centre[1]) * spacing[1]) ** 2
         + ((j - centre[2]) * spacing[2]) ** 2)
    return d <= radius_mm**2


def test_measurements_of_a_ball() -> None:
    spacing = (2.0, 0.5, 0.5)
    mask = _ball((40, 128, 128), (20, 64, 64), 15.0, spacing)
    m = measure(mask, spacing)
    assert m.lesion_found and m.largest_slice_index == 20
    assert m.volume_ml == pytest.approx(4 / 3 * np.pi * 15**3 / 1000, rel=0.03)
    assert m.max_diameter_mm == pytest.approx(30.0, abs=1.0)
    assert m.bounding_box[0:2] == (13, 28) and m.bounding_box[2] == 34


def test_empty_mask_and_bad_input() -> None:
    m = measure(np.zeros((4, 8, 8), bool), (1.0, 1.0, 1.0))
    assert (m.lesion_found, m.volume_ml, m.largest_slice_index) == (False, 0.0, -1)
    with pytest.raises(ValueError, match="must be 3-D"):
        measure(np.zeros((8, 8), bool), (1.0, 1.0, 1.0))


@functools.cache
def _lesion(irregularity: float, heterogeneity: float, seed: int):
    r = render(np.random.default_rng(seed), tumor_size_cm=4.0, heterogeneity=heterogeneity,
               irregularity=irregularity, matrix=256, pixel_mm=0.8, slice_mm=5.0, slices=20)
    volume = (r.volume / np.percentile(r.volume, 99.5)).clip(0, 1).astype(np.float32)
    return extract(volume, r.mask, (5.0, 0.8, 0.8)).radiomics


@pytest.mark.parametrize(("name", "factor"), [
    ("margin_lobulation", 3.0), ("margin_smooth_ellipsoid_cv", 3.0),
    ("margin_smooth_slice_ellipse_cv", 3.0)])
def test_radiomics_see_outline_irregularity(name: str, factor: float) -> None:
    seeds = range(4)
    smooth = [_lesion(-2.5, 0.0, s)[name] for s in seeds]
    lobulated = [_lesion(2.5, 0.0, s)[name] for s in seeds]
    assert np.mean(lobulated) > factor * np.mean(smooth)


def test_lobulated_lesions_fill_less_of_their_moment_ellipsoid() -> None:
    seeds = range(4)
    smooth = [_lesion(-2.5, 0.0, s)["shape_ellipsoid_fill"] for s in seeds]
    lobulated = [_lesion(2.5, 0.0, s)["shape_ellipsoid_fill"] for s in seeds]
    # thick (5 mm) slices leave even a smooth lesion a little short of its moment ellipsoid
    assert min(smooth) > 0.95 and max(lobulated) < min(smooth) - 0.03


@pytest.mark.parametrize(("name", "factor"), [
    ("texture_core_local_cv", 2.0), ("texture_core_contrast", 2.0), ("heterogeneity_core_cv", 2.0),
    ("heterogeneity_core_robust_cv", 2.0), ("heterogeneity_core_lag1_cv", 2.0)])
def test_radiomics_see_texture_heterogeneity(name: str, factor: float) -> None:
    seeds = range(4)
    uniform = [_lesion(0.0, -2.5, s)[name] for s in seeds]
    heterogeneous = [_lesion(0.0, 2.5, s)[name] for s in seeds]
    assert np.mean(heterogeneous) > factor * np.mean(uniform)


def _ellipsoid(radii_mm: tuple[float, float, float], spacing: tuple[float, float, float],
               lobes: float = 0.0) -> np.ndarray:
    """An ellipsoid (slices, rows, columns semi-axes in mm) sampled on ``spacing``; ``lobes``
    scales the radius by 1 + lobes·cos(5θ)·cos(2φ), θ and φ the in-plane and out-of-plane angles."""
    shape = tuple(int(2 * r / s) + 9 for r, s in zip(radii_mm, spacing, strict=True))
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    rho = np.sqrt((z / radii_mm[0]) ** 2 + (y / radii_mm[1]) ** 2 + (x / radii_mm[2]) ** 2)
    theta, phi = np.arctan2(y, x), np.arctan2(z, np.hypot(x, y))
    return np.asarray(rho <= 1 + lobes * np.cos(5 * theta) * np.cos(2 * phi))


@pytest.mark.parametrize("radii", [(15.0, 15.0, 15.0), (12.0, 20.0, 9.0), (20.0, 8.0, 14.0)])
def test_an_ellipsoid_has_a_smooth_convex_margin(radii: tuple[float, float, float]) -> None:
    spacing = (1.0, 0.8, 0.8)
    mask = _ellipsoid(radii, spacing)
    f = radiomics(np.full(mask.shape, 0.5, np.float32), mask, spacing)
    assert f["shape_ellipsoid_fill"] == pytest.approx(1.0, abs=0.02)
    assert f["margin_lobulation"] < 0.03
    assert f["margin_smooth_ellipsoid_cv"] < 0.03 and f["margin_smooth_slice_ellipse_cv"] < 0.03
    lobed = radiomics(np.full(mask.shape, 0.5, np.float32), _ellipsoid(radii, spacing, 0.25),
                      spacing)
    assert lobed["shape_ellipsoid_fill"] < f["shape_ellipsoid_fill"] - 0.05
    # the 5θ lobes at 0.25 of the radius, averaged over the 2φ profile across slices
    assert lobed["margin_lobulation"] > 0.1
    assert lobed["margin_smooth_ellipsoid_cv"] > 0.08
    assert lobed["margin_smooth_slice_ellipse_cv"] > 0.08


def test_margin_features_do_not_depend_on_voxel_spacing() -> None:
    """The same lobulated lesion sampled on fine isotropic voxels and on thick MR slices."""
    radii = (14.0, 18.0, 12.0)
    values = []
    for spacing in ((0.7, 0.7, 0.7), (1.0, 0.8, 0.8), (3.0, 0.6, 0.9)):
        mask = _ellipsoid(radii, spacing, 0.2)
        values.append(radiomics(np.full(mask.shape, 0.5, np.float32), mask, spacing))
    for name in ("shape_ellipsoid_fill", "margin_lobulation", "margin_smooth_ellipsoid_cv",
                 "margin_smooth_slice_ellipse_cv"):
        measured = [v[name] for v in values]
        assert max(measured) - min(measured) < 0.025, (name, measured)


def test_heterogeneity_separates_coherent_texture_from_noise_and_ignores_scale() -> None:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    spacing = (2.0, 0.8, 0.8)
    mask = _ellipsoid((14.0, 16.0, 16.0), spacing)
    flat = np.full(mask.shape, 0.5, np.float32)
    white = (0.5 * (1 + 0.05 * rng.standard_normal(mask.shape))).astype(np.float32)
    field = gaussian_filter(rng.standard_normal(mask.shape), (0.6, 2.0, 2.0))
    textured = (0.5 * (1 + 0.05 * field / field.std())).astype(np.float32)
    f = {name: radiomics(v, mask, spacing)
         for name, v in (("flat", flat), ("white", white), ("textured", textured))}
    assert f["flat"]["heterogeneity_core_cv"] == pytest.approx(0.0, abs=1e-6)
    assert f["flat"]["intensity_core_entropy"] < f["white"]["intensity_core_entropy"]
    # same spread, but only the coherent texture has lag-1 covariance
    assert f["white"]["heterogeneity_core_cv"] == pytest.approx(0.05, rel=0.1)
    assert f["textured"]["heterogeneity_core_cv"] == pytest.approx(0.05, rel=0.2)
    assert f["white"]["heterogeneity_core_lag1_cv"] < 0.01
    assert f["textured"]["heterogeneity_core_lag1_cv"] > 0.03
    foci = textured.copy()
    foci[mask & (rng.random(mask.shape) < 0.05)] = 1.0
    assert radiomics(foci, mask, spacing)["heterogeneity_core_bright_fraction"] == pytest.approx(
        0.05, abs=0.01)
    assert f["textured"]["heterogeneity_core_bright_fraction"] == 0.0
    # every heterogeneity and texture feature is a ratio to the core's own level
    half = radiomics(0.5 * textured, mask, spacing)
    for name in ("heterogeneity_core_cv", "heterogeneity_core_robust_cv",
                 "heterogeneity_core_lag1_cv", "texture_core_contrast", "texture_core_entropy",
                 "texture_core_local_cv"):
        assert half[name] == pytest.approx(f["textured"][name], rel=1e-4), name


def test_a_single_voxel_lesion_has_finite_features() -> None:
    mask = np.zeros((5, 9, 9), bool)
    mask[2, 4, 4] = True
    f = radiomics(np.full(mask.shape, 0.5, np.float32), mask, (5.0, 0.8, 0.8))
    assert all(np.isfinite(v) for v in f.values())
    assert f["margin_lobulation"] == 0.0 and f["margin_smooth_ellipsoid_cv"] == 0.0
    assert f["heterogeneity_core_cv"] == 0.0 and f["texture_core_contrast"] == 0.0


def test_extract_round_trips_through_the_wire_message() -> None:
    r = render(np.random.default_rng(1), tumor_size_cm=3.0, heterogeneity=0.0, irregularity=0.0,
               matrix=256, pixel_mm=0.8, slice_mm=5.0, slices=16)
    volume = (r.volume / r.volume.max()).astype(np.float32)
    features = extract(volume, r.mask, (5.0, 0.8, 0.8))
    assert list(features.radiomics) == list(FEATURE_NAMES)
    back = from_proto(common_pb2.ImageFeatures.FromString(features.to_proto().SerializeToString()))
    np.testing.assert_array_equal(back.lesion_slice, features.lesion_slice)
    assert back.radiomics == features.radiomics
    assert image_vector("paper", back).shape == (65536,)
    assert image_vector("radiomics", back).shape == (len(FEATURE_NAMES),)
    assert image_vector("clinical", back).shape == (0,)


def test_without_a_lesion_the_middle_slice_stands_in() -> None:
    volume = np.random.default_rng(0).random((9, 256, 256), dtype=np.float32)
    features = extract(volume, np.zeros(volume.shape, bool), (5.0, 1.0, 1.0))
    assert not features.lesion_found and features.slice_index == 4
    assert set(features.radiomics.values()) == {0.0}


def test_bad_wire_features_are_named() -> None:
    message = common_pb2.ImageFeatures()
    message.lesion_slice.shape.extend([128, 128])
    message.radiomics["volume"] = 3.0
    with pytest.raises(InvalidInput) as info:
        from_proto(message)
    fields = [v.field for v in info.value.violations]
    assert fields == ["image_features.lesion_slice.shape", "image_features.lesion_slice.dtype",
                      "image_features.radiomics", "image_features.radiomics"]
