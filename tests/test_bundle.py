"""Bundles: entries written by several trainers, files loaded only when their sha256 matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cervixai.bundle import BundleError, ModelEntry, add_file, load_bundle, write_entry


def _entry(root: Path, name: str, content: bytes) -> ModelEntry:
    ref = add_file(root, f"{name}/model.onnx", content)
    return ModelEntry(name=name, task=name, algorithm="test", feature_set="none",
                      files={"model": ref}, metrics={"auc": {"value": 0.8, "ci95": [0.7, 0.9]}})


def test_entries_from_several_writers_accumulate(tmp_path: Path) -> None:
    write_entry(tmp_path, _entry(tmp_path, "segmenter", b"seg"))
    write_entry(tmp_path, _entry(tmp_path, "classifier.death", b"cls"))
    write_entry(tmp_path, _entry(tmp_path, "segmenter", b"seg2"))  # replaces
    bundle = load_bundle(tmp_path)
    assert sorted(bundle.models) == ["classifier.death", "segmenter"]
    assert bundle.verified_bytes("segmenter") == b"seg2"
    assert bundle.entry("classifier.death").metrics["auc"]["ci95"] == [0.7, 0.9]
    assert len(bundle.entry("segmenter").version) == 12


def test_tampered_or_missing_files_are_refused(tmp_path: Path) -> None:
    write_entry(tmp_path, _entry(tmp_path, "segmenter", b"original"))
    (tmp_path / "segmenter" / "model.onnx").write_bytes(b"tampered")
    bundle = load_bundle(tmp_path)
    with pytest.raises(BundleError, match="refusing to load it"):
        bundle.verified_path("segmenter")
    (tmp_path / "segmenter" / "model.onnx").unlink()
    with pytest.raises(BundleError, match="missing"):
        bundle.verified_path("segmenter")
    with pytest.raises(BundleError, match=r"has no model 'survival\.os'; it has segmenter"):
        bundle.entry("survival.os")


def test_paths_outside_the_bundle_and_bad_manifests(tmp_path: Path) -> None:
    write_entry(tmp_path, _entry(tmp_path, "segmenter", b"x"))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["models"]["segmenter"]["files"]["model"]["path"] = "../../etc/passwd"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(tmp_path).verified_path("segmenter")
    (tmp_path / "manifest.json").write_text('{"manifest_version": 7, "models": {}}')
    with pytest.raises(BundleError, match="manifest_version 7 is not supported"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        load_bundle(tmp_path / "nowhere")
