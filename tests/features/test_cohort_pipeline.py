"""The training image-feature pipeline: the segmenter's out-of-sample contours, the ground
truth beside them, one cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cervixai import shipped
from cervixai.bundle import sha256_of
from cervixai.cohort import format as cf
from cervixai.features import cohort as pipeline
from cervixai.features.cohort import SEGMENTER, TRUTH, FeatureSourceError, cohort_features


@pytest.fixture(scope="module")
def bundle(segmenter_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pipeline") / "bundle"
    shipped.install(out, segmenter_artifact)
    return out


def _ids(cohort: Path, n: int = 4) -> list[str]:
    _, rows = cf.read_csv(cohort / cf.CLINICAL_CSV)
    return [r["patient_id"] for r in rows[:n]]


def test_segmenter_and_truth_features_come_from_one_pass_and_one_cache(
        small_cohort: Path, bundle: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _ids(small_cohort)
    served = cohort_features(small_cohort, ids, source=SEGMENTER, segmenter_bundle=bundle,
                             cache_dir=tmp_path)
    assert served.source == SEGMENTER and served.patient_ids == ids
    assert served.segmenter_version == sha256_of(bundle / "segmenter" / "model.onnx")
    assert served.dice is not None and len(served.dice) == 4
    assert all(0.0 <= d <= 1.0 for d in served.dice)
    assert len(list(tmp_path.glob("*.npz"))) == 2       # the truth came out of the same pass

    def recompute(*args: object) -> None:
        raise AssertionError("computed again instead of read from the cache")

    monkeypatch.setattr(pipeline, "_compute", recompute)
    truth = cohort_features(small_cohort, ids, source=TRUTH, cache_dir=tmp_path)
    again = cohort_features(small_cohort, ids, source=SEGMENTER, segmenter_bundle=bundle,
                            cache_dir=tmp_path)
    assert truth.source == TRUTH and truth.segmenter_version is None
    assert again.dice == served.dice
    for a, b in zip(again.values, served.values, strict=True):
        assert a.radiomics == b.radiomics and np.array_equal(a.lesion_slice, b.lesion_slice)
    # the contours differ from the truth, so do the features (a tiny segmenter is poor)
    assert any(t.radiomics != s.radiomics for t, s in zip(truth.values, served.values,
                                                          strict=True))


def test_a_segmenter_trained_on_the_same_cohort_is_refused(small_cohort: Path, bundle: Path,
                                                          tmp_path: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["models"]["segmenter"]["training_data"]["clinical.csv_sha256"] = sha256_of(
        small_cohort / cf.CLINICAL_CSV)
    in_sample = tmp_path / "in-sample"
    in_sample.mkdir()
    (in_sample / "segmenter").mkdir()
    (in_sample / "segmenter" / "model.onnx").write_bytes(
        (bundle / "segmenter" / "model.onnx").read_bytes())
    (in_sample / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FeatureSourceError, match=r"trained on this cohort .* in sample"):
        cohort_features(small_cohort, _ids(small_cohort), source=SEGMENTER,
                        segmenter_bundle=in_sample, cache_dir=tmp_path)


def test_a_bundle_without_a_segmenter_says_what_to_do(small_cohort: Path, tmp_path: Path) -> None:
    empty = tmp_path / "bundle"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({"manifest_version": 1, "models": {}}))
    with pytest.raises(FeatureSourceError, match=r"no segmenter: train it first .*"
                                                 r"\(--image-features truth\)"):
        cohort_features(small_cohort, _ids(small_cohort), source=SEGMENTER,
                        segmenter_bundle=empty, cache_dir=tmp_path)
    with pytest.raises(FeatureSourceError, match="unknown image-feature source 'masks'"):
        cohort_features(small_cohort, [], source="masks", cache_dir=tmp_path)
