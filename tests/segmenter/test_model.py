"""The serving model in process (onnxruntime, no gRPC): validation, padding, measurements."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from cervixai.errors import InvalidInput
from cervixai.features import measure
from cervixai.segmentation.inference import keep_largest_component, pad_depth
from cervixai.wire import volume_from_proto
from services.segmenter.config import InferenceSettings
from services.segmenter.model import SegmenterModel


def _load_cases():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("segmenter_cases", Path(__file__).with_name(
        "cases.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("segmenter_cases", module)
    spec.loader.exec_module(module)
    return module


cases = _load_cases()


@pytest.fixture(scope="module")
def model(segmenter_bundle: Path) -> SegmenterModel:
    loaded = SegmenterModel(segmenter_bundle, InferenceSettings(max_slices=cases.MAX_SLICES,
                                                                provider="cpu"))
    loaded.load()
    loaded.warm_up()
    return loaded


@pytest.mark.parametrize(("name", "message", "field", "words"), cases.BAD_REQUESTS,
                         ids=[c[0] for c in cases.BAD_REQUESTS])
def test_bad_volumes_name_the_problem(model: SegmenterModel, name: str, message: object,
                                      field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decoded = volume_from_proto(message.volume)  # type: ignore[attr-defined]
        model.segment(decoded.voxels, decoded.spacing_mm, message.threshold)  # type: ignore[attr-defined]
    assert any(v.field == field and words in v.description for v in caught.value.violations), \
        caught.value.violations


@pytest.mark.parametrize("depth", [1, 3, 7, 9, 13, 17, 30])
def test_any_depth_is_padded_and_cropped_back(model: SegmenterModel, depth: int) -> None:
    volume = cases.phantom(depth)
    probabilities = model.predict(volume)
    assert probabilities.shape == volume.shape
    assert probabilities.dtype == np.float32
    # The same as running the network on the zero-padded volume and cropping by hand.
    multiple = model.depth_multiple
    padded = np.zeros((-(-depth // multiple) * multiple, 256, 256), np.float32)
    padded[:depth] = volume
    np.testing.assert_allclose(model.predict(padded)[:depth], probabilities, atol=1e-6)


def test_pad_depth_reaches_the_next_multiple() -> None:
    assert [pad_depth(np.ones((d, 2, 2), np.float32), 4).shape[0] for d in (1, 4, 5, 8)] == \
        [4, 4, 8, 8]
    padded = pad_depth(np.ones((5, 2, 2), np.float32), 4)
    assert padded[5:].sum() == 0 and padded[:5].min() == 1


def test_segmentation_measures_its_own_mask(model: SegmenterModel, cohort_cases: list) -> None:
    case = cohort_cases[0]
    result = model.segment(case.volume, case.spacing_mm)
    assert result.threshold == model.threshold
    expected = measure(result.mask, case.spacing_mm)
    assert result.measurements == expected
    if result.mask.any():
        assert result.mean_probability == pytest.approx(
            float(result.probabilities[result.mask].mean()))
        assert result.probabilities[result.mask].min() >= result.threshold


def test_an_empty_prediction_is_an_answer_with_a_warning(model: SegmenterModel) -> None:
    volume = cases.phantom(8)
    top = float(model.predict(volume).max())
    assert top < 0.999
    result = model.segment(volume, cases.SPACING, threshold=min(0.9999, top + 1e-4))
    assert not result.mask.any()
    assert not result.measurements.lesion_found
    assert result.measurements.largest_slice_index == -1
    assert result.mean_probability == 0.0
    assert any("no lesion found" in w for w in result.warnings)


def test_largest_component_keeps_one_body() -> None:
    mask = np.zeros((4, 10, 10), bool)
    mask[0:2, 0:3, 0:3] = True
    mask[2:4, 6:10, 6:10] = True
    kept = keep_largest_component(mask)
    assert kept.sum() == 32 and not kept[0].any()


def test_not_ready_before_load(segmenter_bundle: Path) -> None:
    from cervixai.errors import NotReady

    with pytest.raises(NotReady):
        SegmenterModel(segmenter_bundle).predict(cases.phantom(2))


def test_box_restricted_component_and_measurements_match_whole_volume_computations() -> None:
    """Both work inside the mask's bounding box; the answers must be those of the whole volume."""
    from scipy import ndimage

    from cervixai.features import shape

    rng = np.random.default_rng(0)
    for _ in range(150):
        dims = (int(rng.integers(1, 8)), int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        mask = rng.random(dims) < rng.choice([0.0, 0.01, 0.05, 0.3, 0.9])
        labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
        expected = mask if count <= 1 else labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
        assert np.array_equal(keep_largest_component(mask), expected)
        found = shape.measure(mask, (5.0, 0.7, 0.8))
        assert found.voxel_count == int(mask.sum())
        assert found.largest_slice_index == shape.largest_slice_index(mask)
        assert found.max_diameter_mm == pytest.approx(
            shape.max_inplane_diameter_mm(mask, 0.7, 0.8), abs=1e-9)
