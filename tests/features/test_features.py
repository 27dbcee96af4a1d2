"""Lesion measurements and radiomics: correct on known shapes, sensitive to the image-only signal
that the synthetic cohort hides in texture and outline."""

from __future__ import annotations

import numpy as np
import pytest

from cervix.v1 import common_pb2
from cervixai.cohort.synth.image import render
from cervixai.errors import InvalidInput
from cervixai.features import FEATURE_NAMES, extract, from_proto, image_vector, measure


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


def _lesion(irregularity: float, heterogeneity: float, seed: int):
    r = render(np.random.default_rng(seed), tumor_size_cm=4.0, heterogeneity=heterogeneity,
               irregularity=irregularity, matrix=256, pixel_mm=0.8, slice_mm=5.0, slices=20)
    volume = (r.volume / np.percentile(r.volume, 99.5)).clip(0, 1).astype(np.float32)
    return extract(volume, r.mask, (5.0, 0.8, 0.8)).radiomics


def test_radiomics_see_outline_irregularity_and_texture_heterogeneity() -> None:
    seeds = range(4)
    smooth = [_lesion(-2.5, 0.0, s)["outline_radial_cv"] for s in seeds]
    lobulated = [_lesion(2.5, 0.0, s)["outline_radial_cv"] for s in seeds]
    assert np.mean(lobulated) > 1.5 * np.mean(smooth)
    uniform = [_lesion(0.0, -2.5, s)["intensity_std"] for s in seeds]
    heterogeneous = [_lesion(0.0, 2.5, s)["intensity_std"] for s in seeds]
    assert np.mean(heterogeneous) > 1.5 * np.mean(uniform)


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
    assert fields == ["image_features.lesion_slice.shape", "image_features.radiomics",
                      "image_features.radiomics"]
