"""Serving code imports neither torch nor training code (only training and export may)."""

from __future__ import annotations

import json
import subprocess
import sys

# Modules whose name contains one of these parts are training-only and may import anything.
TRAINING_PARTS = {"train", "training", "export"}
FORBIDDEN = ("torch", "sklearn", "imblearn", "skl2onnx", "onnx", "highdicom")

PROBE = r"""
import importlib, json, pkgutil, sys
roots = ["cervixai", "cervix", "services", "gateway"]
skip = set(sys.argv[1].split(","))
imported = []
for root in roots:
    pkg = importlib.import_module(root)
    imported.append(root)
    for info in pkgutil.walk_packages(pkg.__path__, root + "."):
        if skip & set(info.name.split(".")) or info.name.rsplit(".", 1)[-1].startswith("train"):
            continue
        importlib.import_module(info.name)
        imported.append(info.name)
print(json.dumps({"imported": imported, "modules": sorted(sys.modules)}))
"""


def test_serving_modules_do_not_import_training_libraries() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, ",".join(TRAINING_PARTS)],
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert "cervixai.clinical.validate" in result["imported"]
    assert "cervixai.service.server" in result["imported"]
    leaked = sorted({m.split(".")[0] for m in result["modules"]} & set(FORBIDDEN))
    assert not leaked, f"serving code imported {leaked}"
