"""Bundles: entries written by several trainers, files loaded only when their sha256 matches."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cervixai.bundle import (
    BundleError,
    ModelEntry,
    add_file,
    load_bundle,
    update_entry,
    write_entry,
)

# One trainer of the concurrency test: waits for the start signal, then writes COUNT entries of
# its own into the bundle, one write_entry each (what a trainer finishing does).
WRITER = """
import sys, time
from pathlib import Path
from cervixai.bundle import FileRef, ModelEntry, write_entry
root, writer, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(root.parent / f"ready-{writer}").touch()
while not (root.parent / "go").exists():
    time.sleep(0.001)
for i in range(count):
    name = f"{writer}.{i}"
    write_entry(root, ModelEntry(name=name, task="t", algorithm="a", feature_set="f",
                                 files={"model": FileRef(f"{name}.onnx", "0" * 64)}))
"""


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


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    """Trainers finishing at the same time, as real processes: every entry of every one is in
    the manifest at the end (without the manifest lock, one's read-modify-write drops others')."""
    root, writers, count = tmp_path / "bundle", ("segmenter", "classifier", "survival"), 150
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), w, str(count)])
                 for w in writers]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{w}").exists() for w in writers):
            assert time.monotonic() < deadline, "the writer processes did not start"
            assert all(p.poll() is None for p in processes), "a writer process failed"
            time.sleep(0.01)
        (tmp_path / "go").touch()
        assert [p.wait(timeout=120) for p in processes] == [0] * len(writers)
    finally:
        for p in processes:
            p.kill()
    expected = {f"{w}.{i}" for w in writers for i in range(count)}
    present = set(load_bundle(root).models)
    assert present == expected, f"{len(expected - present)} of {len(expected)} entries lost"


def test_update_entry_changes_the_current_entry_only(tmp_path: Path) -> None:
    written = write_entry(tmp_path, _entry(tmp_path, "survival.os", b"os"))
    assert written.created  # write_entry returns the entry as written
    updated = update_entry(tmp_path, "survival.os",
                           lambda e: dataclasses.replace(e, metrics={**e.metrics, "served": 1}))
    assert updated is not None and updated.created == written.created
    entry = load_bundle(tmp_path).entry("survival.os")
    assert entry.metrics == {"auc": {"value": 0.8, "ci95": [0.7, 0.9]}, "served": 1}
    assert update_entry(tmp_path, "survival.rfs", lambda e: e) is None
    assert update_entry(tmp_path, "survival.os", lambda e: None) is None
    with pytest.raises(BundleError, match="returned an entry named 'segmenter'"):
        update_entry(tmp_path, "survival.os", lambda e: dataclasses.replace(e, name="segmenter"))
    assert sorted(load_bundle(tmp_path).models) == ["survival.os"]
