"""Models are served only behind the segmenter whose contours they were trained on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cervixai.bundle import BundleError, load_bundle
from cervixai.features.provenance import serving_problem
from services.classifier.model import ClassifierModel
from services.survival.model import SurvivalModel


def _edit(bundle: Path, prefix: str, **parameters: object) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    for name, entry in manifest["models"].items():
        if name.startswith(prefix) and entry["parameters"].get("image_features_from") != "none":
            entry["parameters"].update(parameters)
    path.write_text(json.dumps(manifest))


def test_the_test_bundle_records_where_its_image_features_came_from(system_bundle: Path) -> None:
    bundle = load_bundle(system_bundle)
    segmenter = bundle.models["segmenter"].files["model"].sha256
    imaged = [e for n, e in bundle.models.items() if n != "segmenter"
              and e.parameters["image_features_from"] != "none"]
    assert imaged, "the test bundle has no image model to check"
    for entry in imaged:
        assert entry.parameters["image_features_from"] == "segmenter"
        assert entry.parameters["segmenter_version"] == segmenter
        low, high = entry.parameters["image_feature_ranges"]["shape_volume_ml"]
        assert 0 <= low < high


@pytest.mark.parametrize("loader, prefix", [(ClassifierModel, "classifier."),
                                            (SurvivalModel, "survival.")])
def test_a_model_trained_behind_another_segmenter_is_refused(
        system_bundle: Path, tmp_path: Path, loader: type, prefix: str) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(system_bundle, bundle)
    if not any(e.parameters["image_features_from"] == "segmenter"
               for n, e in load_bundle(bundle).models.items() if n.startswith(prefix)):
        pytest.skip(f"the test bundle's {prefix} models are clinical-only")
    loader(bundle).load()     # as trained: served
    _edit(bundle, prefix, segmenter_version="0" * 64)
    with pytest.raises(BundleError, match=r"trained behind segmenter 000000000000, the bundle "
                                          r"serves segmenter [0-9a-f]{12}; retrain"):
        loader(bundle).load()
    _edit(bundle, prefix, image_features_from="truth")
    with pytest.raises(BundleError, match="ground-truth masks, which serving never sees"):
        loader(bundle).load()


def test_clinical_only_models_need_no_segmenter() -> None:
    assert serving_problem("classifier.death", {"image_features_from": "none"}, False,
                           None) is None
    assert "has no segmenter" in str(serving_problem(
        "classifier.death", {"image_features_from": "segmenter", "segmenter_version": "a" * 64},
        True, None))
