"""Geometry: a physical point keeps its value through crop and resampling; index maths."""

from __future__ import annotations

import numpy as np
import pytest

from cervixai.dicom import Geometry, load_series
from cervixai.dicom.geometry import plan_in_plane
from cervixai.dicom.writer import series_datasets

ORIENTATIONS = ["coronal", "axial", (0.866025, 0.5, 0.0, 0.0, 0.0, -1.0)]


def _ramp(depth: int, rows: int, columns: int) -> np.ndarray:
    """Stored values linear in (k, i, j), hence linear in patient space."""
    k, i, j = np.mgrid[0:depth, 0:rows, 0:columns]
    return (1000 + 40 * k + 2 * i + 3 * j).astype(np.uint16)


def _input_geometry(ds, depth_spacing: float) -> Geometry:
    cosines = [float(v) for v in ds.ImageOrientationPatient]
    row, column = np.array(cosines[:3]), np.array(cosines[3:])
    return Geometry(
        spacing_mm=(depth_spacing, *(float(v) for v in ds.PixelSpacing)),
        origin_mm=tuple(float(v) for v in ds.ImagePositionPatient),
        row_direction=tuple(row), column_direction=tuple(column),
        slice_direction=tuple(np.cross(row, column)))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize(("rows", "columns", "handling"), [
    (256, 256, "as-is"),
    (320, 320, "centre-cropped"),
    (192, 160, "resampled"),
    (100, 300, "resampled"),
])
def test_a_physical_point_keeps_its_value(kit, orientation, rows, columns, handling) -> None:
    stored = _ramp(3, rows, columns)
    datasets = series_datasets(stored, orientation=orientation, spacing_mm=(4.0, 0.7, 0.9),
                               origin_mm=(-80.0, 12.0, 95.0))
    series = load_series(kit.as_sources(datasets))
    assert series.info.in_plane == handling
    before = _input_geometry(datasets[0], 4.0)
    low, high = series.info.intensity_scale
    k, i, j = np.meshgrid(np.arange(3), np.arange(0, 256, 17), np.arange(0, 256, 13),
                          indexing="ij")
    checked = 0
    for index in zip(k.ravel(), i.ravel(), j.ravel(), strict=True):
        point = series.geometry.index_to_patient(index)
        source = before.patient_to_index(point)
        inside = all(0 <= source[a] <= n - 1 for a, n in ((1, rows), (2, columns)))
        value = series.volume[index] * (high - low) + low
        if not inside or series.volume[index] >= 1.0:  # clamped edge, or clipped top 0.5 %
            continue
        expected = 1000 + 40 * source[0] + 2 * source[1] + 3 * source[2]
        assert value == pytest.approx(expected, abs=0.05), (index, source)
        checked += 1
    assert checked > 100


def test_crop_moves_the_origin_by_32_pixels(kit) -> None:
    datasets = series_datasets(_ramp(2, 320, 320), spacing_mm=(5.0, 0.7, 0.9))
    series = load_series(kit.as_sources(datasets))
    first = np.array([float(v) for v in datasets[0].ImagePositionPatient])
    expected = first + 32 * 0.7 * np.array([0, 0, -1]) + 32 * 0.9 * np.array([1, 0, 0])
    np.testing.assert_allclose(series.geometry.origin_mm, expected, atol=1e-9)
    assert series.geometry.spacing_mm == (5.0, 0.7, 0.9)
    np.testing.assert_allclose(series.volume, kit.normalised(
        _ramp(2, 320, 320)[:, 32:288, 32:288]), atol=1e-6)


def test_resampling_scales_spacing_per_axis_and_moves_the_first_centre(kit) -> None:
    datasets = series_datasets(_ramp(2, 192, 160), spacing_mm=(5.0, 1.0, 1.2))
    series = load_series(kit.as_sources(datasets))
    row_spacing, column_spacing = 1.0 * 192 / 256, 1.2 * 160 / 256
    assert series.geometry.spacing_mm == pytest.approx((5.0, row_spacing, column_spacing))
    first = np.array([float(v) for v in datasets[0].ImagePositionPatient])
    expected = (first + (row_spacing / 2 - 0.5) * np.array([0, 0, -1])
                + (column_spacing / 2 - 0.6) * np.array([1, 0, 0]))
    np.testing.assert_allclose(series.geometry.origin_mm, expected, atol=1e-9)
    assert any("in-plane matrix 192×160 was resampled to 256×256" in w for w in series.warnings)


def test_slices_run_along_the_normal_from_the_first_position(kit) -> None:
    datasets = series_datasets(_ramp(4, 256, 256), orientation="coronal", origin_mm=(0, 0, 0))
    series = load_series(kit.as_sources(datasets[::-1]))
    assert series.geometry.slice_direction == (0.0, 1.0, 0.0)
    assert series.geometry.origin_mm == (0.0, 0.0, 0.0)
    np.testing.assert_allclose(series.geometry.index_to_patient((3, 0, 0)), (0, 15, 0))


@pytest.mark.parametrize(("rows", "columns", "handling"), [
    (256, 256, "as-is"), (320, 320, "centre-cropped"), (320, 256, "resampled"),
    (512, 512, "resampled"), (64, 64, "resampled"),
])
def test_in_plane_plan(rows, columns, handling) -> None:
    fit = plan_in_plane(rows, columns, 0.5, 0.5)
    assert fit.handling == handling
    assert fit.apply(np.zeros((2, rows, columns))).shape == (2, 256, 256)


def test_resampling_is_linear_over_the_full_field_of_view() -> None:
    fit = plan_in_plane(2, 2, 1.0, 1.0, size=4)
    image = np.array([[0.0, 4.0], [8.0, 12.0]])
    # output centres sit at input coordinates -0.25, 0.25, 0.75, 1.25 (edges clamped)
    np.testing.assert_allclose(fit.apply(image)[0], [0.0, 1.0, 3.0, 4.0])
    np.testing.assert_allclose(fit.apply(image)[:, 0], [0.0, 2.0, 6.0, 8.0])


def test_geometry_index_round_trip_and_voxel_volume() -> None:
    geometry = Geometry((5.0, 0.5, 0.4), (10.0, -20.0, 30.0), (1.0, 0.0, 0.0),
                        (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))
    point = geometry.index_to_patient((2, 10, 20))
    np.testing.assert_allclose(point, (18.0, -10.0, 25.0))
    np.testing.assert_allclose(geometry.patient_to_index(point), (2, 10, 20))
    assert geometry.voxel_volume_ml() == pytest.approx(5 * 0.5 * 0.4 / 1000)
    assert geometry.orientation == "coronal"
