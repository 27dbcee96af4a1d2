"""The alert rules: valid for promtool, firing when (and only when) they should, and written
against metrics the processes really export."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
UNIT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yaml"
METRICS_MODULES = ("cervixai.service.metrics", "gateway.metrics", "services.segmenter.metrics",
                   "services.classifier.metrics", "services.survival.metrics")
# The DICOM listener's metrics (cervixai_listener_*), defined once in its own module like the
# others'. Until that module exists its names cannot be checked: CI fails, elsewhere they are
# left out of the check and the test is skipped after checking every other name.
LISTENER_METRICS = "listener.metrics"
# Exported by Prometheus itself and by kube-state-metrics, not by cervixai.
FOREIGN = {"up", "kube_pod_container_status_restarts_total"}
REQUIRED_ALERTS = {"CervixaiHighErrorRatio", "CervixaiLatencyObjective", "CervixaiBackendDown",
                   "CervixaiNoModelLoaded", "CervixaiListenerExportsFailing",
                   "CervixaiListenerStudiesStuck"}


def rule_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [group for item in objects if item["kind"] == "PrometheusRule"
            for group in item["spec"]["groups"]]


@pytest.fixture(scope="module")
def rules(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    groups = rule_groups(rendered["production"])
    assert groups, "production renders no PrometheusRule"
    return groups


def promtool_run(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def test_rules_pass_promtool_check(promtool: str, rules: list[dict[str, Any]],
                                   tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rules}))
    result = promtool_run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rules)} rules found" in result.stdout


def test_promtool_check_rejects_a_broken_expression(promtool: str, rules: list[dict[str, Any]],
                                                    tmp_path: Path) -> None:
    broken = [{"name": "broken", "rules": [{**rules[1]["rules"][0], "expr": "sum(rate(x[5m])"}]}]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": broken}))
    result = promtool_run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_alerts_fire_as_the_unit_tests_expect(promtool: str, rules: list[dict[str, Any]],
                                              tmp_path: Path) -> None:
    # Annotations are prose (their templates are checked above): the unit tests are about when
    # an alert fires and with which labels, so they are dropped here.
    bare = [{**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
            for g in rules]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": bare}))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    result = promtool_run(promtool, "test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", UNIT_TESTS.read_text()))
    alerts = {r["alert"] for g in rules for r in g["rules"] if "alert" in r}
    assert alerts == tested, "every alert has a unit test"


def test_required_alerts_are_defined(rules: list[dict[str, Any]]) -> None:
    alerts = {r["alert"]: r for g in rules for r in g["rules"] if "alert" in r}
    assert alerts.keys() >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def listener_metrics_written() -> bool:
    """Whether the listener's metrics module exists (imported, its metrics registered)."""
    try:
        importlib.import_module(LISTENER_METRICS)
    except ModuleNotFoundError as e:
        if e.name in (LISTENER_METRICS, LISTENER_METRICS.partition(".")[0]):
            return False
        raise
    return True


def exported_names() -> set[str]:
    """Every sample name the cervixai processes can export (families of the shared registry)."""
    for module in METRICS_MODULES:
        importlib.import_module(module)
    listener_metrics_written()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                "gauge": ("",), "info": ("_info",), "summary": ("_count", "_sum")}
    return {family.name + suffix for family in REGISTRY.collect()
            for suffix in suffixes.get(family.type, ("",))}


def test_rules_use_only_exported_metrics(rules: list[dict[str, Any]]) -> None:
    exported = exported_names()
    expressions = [r["expr"] for g in rules for r in g["rules"]]
    used = {m for e in expressions for m in re.findall(r"(?<![:\w])([a-z_][a-z0-9_]*)\{", e)
            } | {m for e in expressions for m in re.findall(r"\b(cervixai_[a-z0-9_]+)\b", e)}
    unknown = sorted(m for m in used - FOREIGN
                     if m not in exported and m not in {"by", "on", "without"})
    listener_written = listener_metrics_written()
    if not listener_written:
        unknown = [m for m in unknown if not m.startswith("cervixai_listener_")]
    assert unknown == []
    # The no-model alert reads the one model-info metric every model service exports.
    no_model = next(r["expr"] for g in rules for r in g["rules"]
                    if r.get("alert") == "CervixaiNoModelLoaded")
    assert "cervixai_model_info" in exported and "cervixai_model_info" in no_model
    if not listener_written:
        reason = (f"{LISTENER_METRICS} does not exist yet: the listener alerts' metric names "
                  "are unchecked")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
