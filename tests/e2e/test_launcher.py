"""``cervixai up``'s bundle step: what it trains, and what it refuses to overwrite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cervixai import launcher


def _home_with(bundle: Path, cohort: Path, tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "cohort").symlink_to(cohort)
    copy = home / "bundle"
    shutil.copytree(bundle, copy)
    return home, copy


def _forget_feature_names(bundle: Path) -> None:
    """Make the classifier entries look trained by a version whose image features were unnamed."""
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    for name, entry in manifest["models"].items():
        if name.startswith("classifier."):
            entry["parameters"]["input_layout"].pop("image_features", None)
    path.write_text(json.dumps(manifest))


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The trainer command lines ``build_bundle`` runs (recorded, not run)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(launcher, "_run", lambda argv: calls.append(list(argv[3:])))
    return calls


def test_a_complete_servable_bundle_trains_nothing(system_bundle: Path, e2e_cohort: Path,
                                                   tmp_path: Path, trained: list[list[str]],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    home, bundle = _home_with(system_bundle, e2e_cohort, tmp_path)
    launcher.build_bundle(home, bundle)
    assert trained == [] and "complete" in capsys.readouterr().out


def test_models_the_services_would_refuse_are_retrained_in_the_launchers_bundle(
        system_bundle: Path, e2e_cohort: Path, tmp_path: Path, trained: list[list[str]],
        capsys: pytest.CaptureFixture[str]) -> None:
    home, bundle = _home_with(system_bundle, e2e_cohort, tmp_path)
    _forget_feature_names(bundle)
    launcher.build_bundle(home, bundle)
    assert [argv[:2] for argv in trained] == [["train", "classifier"]]
    assert trained[0][trained[0].index("--out") + 1] == str(bundle)
    out = capsys.readouterr().out
    assert "retraining the classifier models" in out and "without names" in out


def test_a_given_bundle_is_never_overwritten(system_bundle: Path, e2e_cohort: Path,
                                             tmp_path: Path, trained: list[list[str]]) -> None:
    home, bundle = _home_with(system_bundle, e2e_cohort, tmp_path)
    _forget_feature_names(bundle)
    with pytest.raises(SystemExit, match=r"cannot serve its classifier models .*without names"):
        launcher.build_bundle(home, bundle, owned=False)
    assert trained == []
