"""`cervixai evaluate` against the real system: it starts the four processes from a tiny bundle,
sends test-split patients as postoperative studies through HTTP POST /v1/assessments, writes the
reports and records metrics.served in the bundle's manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cervixai.bundle import load_bundle


# The first test to use system_bundle trains it (a few minutes on a busy 2-core machine).
@pytest.mark.timeout(900)
def test_evaluate_through_the_served_system_and_record(system_bundle: Path, e2e_cohort: Path,
                                                       tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"          # a copy: the other e2e tests share system_bundle
    shutil.copytree(system_bundle, bundle)
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "cervixai.cli", "evaluate", "--cohort", str(e2e_cohort),
         "--bundle", str(bundle), "--split", "test", "--limit", "6", "--bootstrap", "20",
         "--out", str(out), "--record"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert "6 served, 0 failed" in result.stdout

    data = json.loads((out / "evaluation.json").read_text())
    assert data["patients"] == {"sent": 6, "served": 6, "failed": 0, "without_dice": 0}
    assert data["settings"]["api"] == "http" and data["settings"]["split"] == "test"
    assert set(data["classification"]) == {"parametrial_invasion", "lymph_node_metastasis",
                                           "recurrence", "death"}
    for s in data["classification"].values():
        assert s["patients"] == 6 and 0 < s["threshold"] < 1
        assert s["reliable"] is False and s["auc"]["ci95"] is None      # 6 patients: small
        assert s["oracle_auc"] is None or 0 <= s["oracle_auc"] <= 1
    for outcome in ("rfs", "os"):
        assert data["survival"][outcome]["patients"] == 6
    dice = [p["dice"] for p in data["per_patient"]]
    assert len(dice) == 6 and all(0.0 <= d <= 1.0 for d in dice)
    assert data["segmentation"]["patients"] == 6
    assert sum(g["patients"] for g in data["subgroups"]["matrix"].values()) == 6
    assert (out / "evaluation.md").read_text().startswith("# Served evaluation")
    assert len(list(out.glob("reliability-*.png"))) == 4
    # the services' stderr went to the report's logs, and the gateway's audit log has 6 lines
    assert len((out / "logs" / "audit.jsonl").read_text().splitlines()) == 6

    manifest = load_bundle(bundle).models
    served = manifest["classifier.recurrence"].metrics["served"]
    assert served["patients"] == 6 and served["split"] == "test"
    assert served["cohort"] == e2e_cohort.name
    assert "on 6 patients of split test" in served["source"]
    assert manifest["survival.rfs"].metrics["served"]["patients"] == 6
    assert manifest["segmenter"].metrics["served"]["patients"] == 6
    assert "served" not in load_bundle(system_bundle).models["segmenter"].metrics
