"""`cervixai cohort` as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def cervixai(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cervixai.cli", "cohort", *args],
                          capture_output=True, text=True, timeout=300)


def test_synth_check_and_oracle(tmp_path: Path) -> None:
    out = tmp_path / "c"
    made = cervixai("synth", "--n", "400", "--seed", "1", "--no-images", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert "wrote 400 patients" in made.stdout
    checked = cervixai("check", str(out), "--no-images")
    assert checked.returncode == 0, checked.stdout
    oracle = json.loads(cervixai("oracle", str(out), "--json").stdout)
    assert set(oracle) == {"parametrial_invasion", "lymph_node_metastasis", "recurrence",
                           "death", "rfs", "os"}
    for task in ("parametrial_invasion", "lymph_node_metastasis"):
        figures = oracle[task]
        assert set(figures) == {"prevalence", "oracle_auc", "preoperative_oracle_auc"}
        assert 0.75 < figures["preoperative_oracle_auc"] < figures["oracle_auc"], figures
    assert set(oracle["recurrence"]) == {"prevalence", "oracle_auc"}
    text = cervixai("oracle", str(out)).stdout
    pi_line = next(line for line in text.splitlines() if "parametrial_invasion:" in line)
    shown = oracle["parametrial_invasion"]["preoperative_oracle_auc"]
    assert f"preoperative_oracle_auc {shown:.3f}" in pi_line
    again = cervixai("synth", "--n", "5", "--out", str(out))
    assert again.returncode == 1 and "not empty" in again.stderr


def test_check_reports_and_fails(tmp_path: Path) -> None:
    (tmp_path / "cohort.json").write_text('{"format_version": 99}')
    result = cervixai("check", str(tmp_path))
    assert result.returncode == 1
    assert "format_version 99 is not supported" in result.stdout
    assert "clinical.csv: missing" in result.stdout
