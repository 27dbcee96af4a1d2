"""The segmenter the repository ships: present, and its file is the one its entry names."""

from __future__ import annotations

import hashlib

from cervixai import shipped


def test_the_shipped_segmenter_matches_its_entry_and_is_reproducible() -> None:
    assert shipped.available(), "models/segmenter/ is missing: run `make segmenter-model`"
    entry = shipped.read_entry()
    content = (shipped.FOLDER / shipped.MODEL).read_bytes()
    assert hashlib.sha256(content).hexdigest() == entry.files["model"].sha256
    assert entry.name == "segmenter" and entry.files["model"].path == shipped.BUNDLE_PATH
    # trained on a cohort of its own, never make run's (seed 0): its contours there are
    # out of sample
    assert entry.training_data["seed"] == 1000 and entry.training_data["patients"] == 500
    assert entry.parameters["profile"]["name"] == "long"
    assert entry.metrics["onnx_parity"]["max_abs_difference"] <= 1e-3
    assert 0.0 < entry.metrics["test"]["dice"]["mean"] <= 1.0
