"""The cervixai command, run as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def cervixai(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cervixai.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_validate_accepts_a_good_record_and_lists_every_problem_of_a_bad_one(
        tmp_path: Path) -> None:
    good = {"age_years": 48, "comorbidity": "no", "hpv_status": "hpv16_18", "scca_ng_ml": 2.1,
            "leep_history": "no"}
    ok = cervixai("clinical", "validate", "-", "--stage", "preoperative", stdin=json.dumps(good))
    assert ok.returncode == 0, ok.stderr
    assert "valid preoperative record: 5 variables given" in ok.stdout
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**good, "age_years": 400, "hpv_status": "16"}))
    bad = cervixai("clinical", "validate", str(path), "--stage", "preoperative")
    assert bad.returncode == 1
    assert "clinical.age_years: 400 years is outside" in bad.stderr
    assert "clinical.hpv_status: '16' is not a level" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_validate_rejects_non_json() -> None:
    result = cervixai("clinical", "validate", "-", "--stage", "postoperative", stdin="{age: 4")
    assert result.returncode == 1 and "is not JSON" in result.stderr
