"""A tiny segmenter trained once per session on the shared small cohort, exported to a bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

TRAINED_ON = 12  # the first patients of the shared 24-patient cohort (2 of them in the test split)


@pytest.fixture(scope="session")
def segmenter_bundle(small_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cervixai train segmenter --profile tiny`` on the 24-patient cohort (seconds)."""
    from cervixai.segmentation.cli import main

    root = tmp_path_factory.mktemp("segmenter")
    bundle = root / "bundle"
    code = main(["segmenter", "--cohort", str(small_cohort), "--out", str(bundle),
                 "--profile", "tiny", "--cache", str(root / "cache"), "--no-progress",
                 "--seed", "1", "--limit", str(TRAINED_ON)])
    assert code == 0
    return bundle


@pytest.fixture(scope="session")
def manifest_entry(segmenter_bundle: Path) -> dict[str, object]:
    entry: dict[str, object] = json.loads((segmenter_bundle / "manifest.json").read_text())[
        "models"]["segmenter"]
    return entry


@pytest.fixture(scope="session")
def cohort_cases(segmenter_bundle: Path, small_cohort: Path) -> list[object]:
    """The cohort's ingested volumes and masks, from the cache the training run filled."""
    from cervixai.segmentation.training.data import load_cohort

    return list(load_cohort(small_cohort, segmenter_bundle.parent / "cache", limit=TRAINED_ON))


@pytest.fixture
def bundle_copy(segmenter_bundle: Path, tmp_path: Path) -> Path:
    """A private copy that a test may damage."""
    target = tmp_path / "bundle"
    shutil.copytree(segmenter_bundle, target)
    return target
