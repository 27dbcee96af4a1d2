"""Serving code imports neither torch nor training code (only training and export may), and
onnxruntime only with its telemetry off."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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


TELEMETRY_PROBE = r"""
import sys
import services.classifier.model, services.segmenter.model, services.survival.model
from cervixai.onnxrt import ort
ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
"""


def test_onnxruntime_writes_no_telemetry_and_is_imported_in_one_place(
        tmp_path: Path) -> None:
    """onnxruntime's telemetry client writes a device id and an event database under the home
    directory on import (and uploads them where it can) unless ORT_DISABLE_TELEMETRY is set before
    that import: cervixai.onnxrt is the only module that imports it."""
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / ".cache"))
    subprocess.run([sys.executable, "-c", TELEMETRY_PROBE,
                    str(ROOT / "models" / "segmenter" / "model.onnx")], env=env,
                   cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert written == [], f"onnxruntime wrote {written}"
    direct = [str(path.relative_to(ROOT)) for root in ("cervixai", "services", "gateway", "bench")
              for path in (ROOT / root).rglob("*.py")
              if re.search(r"^\s*(import onnxruntime|from onnxruntime)", path.read_text(),
                           re.MULTILINE)]
    assert direct == ["cervixai/onnxrt.py"]
