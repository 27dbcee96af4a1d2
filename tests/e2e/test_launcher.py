"""``cervixai up``'s bundle step: what it trains, and what it refuses to overwrite."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from cervixai import launcher, shipped
from cervixai.bundle import BundleError, load_bundle
from cervixai.processes import free_port


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
def trained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """The trainer command lines ``build_bundle`` runs (recorded, not run); the repository's
    segmenter artifact is absent unless a test publishes one into ``shipped.FOLDER``."""
    calls: list[list[str]] = []
    monkeypatch.setattr(launcher, "_run", lambda argv: calls.append(list(argv[3:])))
    monkeypatch.setattr(shipped, "FOLDER", tmp_path / "no-artifact")
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
    assert [argv[:2] for argv in trained if argv[0] == "train"] == [["train", "classifier"]]
    assert trained[0][trained[0].index("--out") + 1] == str(bundle)
    evaluate = next(argv for argv in trained if argv[0] == "evaluate")   # then measured, served
    assert "--record" in evaluate and evaluate[evaluate.index("--bundle") + 1] == str(bundle)
    out = capsys.readouterr().out
    assert "retraining the classifier models" in out and "without names" in out


def test_a_given_bundle_is_never_overwritten(system_bundle: Path, e2e_cohort: Path,
                                             tmp_path: Path, trained: list[list[str]]) -> None:
    home, bundle = _home_with(system_bundle, e2e_cohort, tmp_path)
    _forget_feature_names(bundle)
    with pytest.raises(SystemExit, match=r"cannot serve its classifier models .*without names"):
        launcher.build_bundle(home, bundle, owned=False)
    assert trained == []


def test_a_bundle_without_a_segmenter_gets_the_shipped_one_checked(
        system_bundle: Path, e2e_cohort: Path, tmp_path: Path, trained: list[list[str]]) -> None:
    home, bundle = _home_with(system_bundle, e2e_cohort, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["models"]["segmenter"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    artifact = tmp_path / "artifact"
    shipped.publish(system_bundle, artifact)
    model = artifact / shipped.MODEL
    original = model.read_bytes()
    model.write_bytes(original + b"\0")
    with pytest.raises(BundleError, match="refusing to install"):
        shipped.install(bundle, artifact)     # a file that does not match its entry
    model.write_bytes(original)
    shipped.FOLDER = artifact   # the fixture's monkeypatch restores it
    launcher.build_bundle(home, bundle)
    installed = load_bundle(bundle)
    assert installed.models["segmenter"].parameters["shipped_from"] == "models/segmenter"
    installed.verified_path("segmenter")
    assert sorted(argv[1] for argv in trained if argv[0] == "train") == ["classifier",
                                                                        "survival"]


def test_a_shipped_segmenter_other_than_the_bundles_retrains_classifier_and_survival(
        system_bundle: Path, e2e_cohort: Path, tmp_path: Path, trained: list[list[str]],
        capsys: pytest.CaptureFixture[str]) -> None:
    home, bundle = _home_with(system_bundle, e2e_cohort, tmp_path)
    artifact = tmp_path / "artifact"
    shipped.publish(system_bundle, artifact)
    model = artifact / shipped.MODEL
    model.write_bytes(model.read_bytes() + b"\0")        # another network, a consistent entry
    entry = json.loads((artifact / shipped.ENTRY).read_text())
    import hashlib

    entry["files"]["model"]["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    (artifact / shipped.ENTRY).write_text(json.dumps(entry))
    shipped.FOLDER = artifact
    launcher.build_bundle(home, bundle)
    assert load_bundle(bundle).models["segmenter"].files["model"].sha256 == \
        entry["files"]["model"]["sha256"]
    assert sorted(argv[1] for argv in trained if argv[0] == "train") == ["classifier",
                                                                        "survival"]
    assert "replacing its segmenter" in capsys.readouterr().out


@pytest.mark.parametrize("exists", [False, True])
def test_the_home_folder_is_the_users_only(tmp_path: Path, exists: bool) -> None:
    import stat

    home = tmp_path / "var"
    if exists:
        home.mkdir(mode=0o755)
        home.chmod(0o755)
    assert launcher.private_home(home) == home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_a_service_that_dies_is_restarted_with_backoff(capsys) -> None:
    from cervixai.launcher import Processes
    from cervixai.service.components import Component

    processes = Processes()
    processes.BACKOFF_SECONDS = (0.2, 1.0)
    # `python -m this` prints and exits at once: a backend that dies
    dying = Component("survival", "this", "CERVIXAI_X", "cervix.v1.Survival", free_port())
    processes.start(dying, dict(os.environ))
    first = processes.running[0][1]
    first.process.wait(30)
    processes.supervise()                     # found dead: restart scheduled
    assert processes.running[0][1] is first
    time.sleep(0.3)
    processes.supervise()                     # due: started again
    second = processes.running[0][1]
    assert second is not first
    second.process.wait(30)
    processes.supervise()
    time.sleep(0.3)
    processes.supervise()                     # the second death waits twice as long
    assert processes.running[0][1] is second
    time.sleep(0.2)
    processes.supervise()
    assert processes.running[0][1] is not second
    out = capsys.readouterr().out
    assert "exited (code 0); restarting in 0.2 s" in out and "restarting in 0.4 s" in out
    assert out.count("restarted") == 2
    processes.stop()
