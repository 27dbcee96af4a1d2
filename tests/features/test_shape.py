"""The mask-only pieces of the radiomics measure what their definitions say on known shapes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from cervixai.features.shape import (
    CORE_DEPTH_MM,
    CORE_MIN_VOXELS,
    ellipsoid_fill,
    inplane_depth_mm,
    lesion_core,
    lobulation,
    regularised,
    smooth_surface_mm2,
)

PIXEL_MM = 0.8


def _plane(radius: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A 200×200 slice of 0.8 mm pixels holding {r ≤ radius(θ)} about its centre."""
    i, j = np.indices((200, 200))
    y, x = (i - 100) * PIXEL_MM, (j - 100) * PIXEL_MM
    theta = np.arctan2(y, x)
    return np.asarray(np.hypot(x, y) <= radius(theta))


@pytest.mark.parametrize(("lobes", "amplitude"), [(3, 0.2), (4, 0.1), (5, 0.05), (6, 0.1)])
def test_lobulation_is_the_amplitude_of_the_lobes(lobes: int, amplitude: float) -> None:
    plane = _plane(lambda t: 30 * (1 + amplitude * np.cos(lobes * t)))
    assert lobulation(plane, PIXEL_MM, PIXEL_MM) == pytest.approx(amplitude, rel=0.1, abs=0.005)


@pytest.mark.parametrize("axes", [(30.0, 30.0), (35.0, 20.0), (12.0, 30.0)])
def test_an_ellipse_has_no_lobulation_whatever_its_axis_ratio(axes: tuple[float, float]) -> None:
    i, j = np.indices((200, 200))
    y, x = (i - 100) * PIXEL_MM, (j - 100) * PIXEL_MM
    assert lobulation((x / axes[0]) ** 2 + (y / axes[1]) ** 2 <= 1, PIXEL_MM, PIXEL_MM) < 0.01


def _ball(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    shape = tuple(int(2 * radius_mm / s) + 5 for s in spacing)
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return np.asarray(z**2 + y**2 + x**2 <= radius_mm**2)


@pytest.mark.parametrize(("spacing", "tolerance"), [((1.0, 1.0, 1.0), 0.02),
                                                    ((5.0, 0.8, 0.8), 0.1)])
def test_smooth_surface_and_fill_of_a_ball(spacing: tuple[float, float, float],
                                           tolerance: float) -> None:
    mask = _ball(20.0, spacing)
    soft, smooth = regularised(mask, spacing)
    # thick slices leave a staircase the in-plane smoothing does not cross
    assert smooth_surface_mm2(soft, spacing) == pytest.approx(4 * np.pi * 20.0**2, rel=tolerance)
    assert ellipsoid_fill(smooth, spacing) == pytest.approx(1.0, abs=0.02)


def test_the_regularised_outline_drops_one_pixel_spurs_and_notches() -> None:
    spacing = (5.0, 0.8, 0.8)
    mask = _ball(15.0, spacing)
    k, i = mask.shape[0] // 2, mask.shape[1] // 2
    jagged = mask.copy()
    edge = np.flatnonzero(mask[k, i])[-1]
    jagged[k, i, edge + 1: edge + 5] = True   # a one-pixel-wide spur 3 mm long
    jagged[k, i + 3, edge - 3:] = False        # a one-pixel-wide notch
    _, smooth = regularised(mask, spacing)
    _, smoothed_jagged = regularised(jagged, spacing)
    assert np.count_nonzero(smooth != smoothed_jagged) <= 4


def test_the_core_is_deep_and_off_the_end_slices() -> None:
    spacing = (5.0, 0.8, 0.8)
    mask = _ball(20.0, spacing)
    core = lesion_core(mask, spacing)
    slices = np.flatnonzero(mask.any(axis=(1, 2)))
    assert not core[slices[[0, -1]]].any() and core[slices[1:-1]].any()
    assert (inplane_depth_mm(mask, spacing)[core] >= CORE_DEPTH_MM).all()
    assert 0.3 < core.sum() / mask.sum() < 0.7


def test_a_lesion_too_small_for_a_core_keeps_its_deepest_voxels() -> None:
    spacing = (5.0, 0.8, 0.8)
    mask = _ball(4.0, spacing)  # two slices, no voxel 3 mm deep
    core = lesion_core(mask, spacing)
    assert CORE_MIN_VOXELS <= core.sum() < mask.sum()
    depth = inplane_depth_mm(mask, spacing)
    assert depth[core].min() >= depth[mask & ~core].max()
