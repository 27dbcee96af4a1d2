"""A running cervixai: a tiny bundle trained by the real trainers — the segmenter on a cohort of
its own (``segmenter_artifact``, seed 31), the classifier and survival models on a 40-patient
synthetic cohort (seed 30: every task has positives in both splits) with image features from
that segmenter's contours, as serving computes them — and the four real processes on
loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cervixai import shipped
from cervixai.cohort import format as cf
from cervixai.cohort.synth import synthesize
from cervixai.processes import ServiceProcess, free_port
from cervixai.service.components import BY_NAME, COMPONENTS, Component

TRAINING = (
    ["classifier", "--quick", "--workers", "2", "--feature-cache"],
    ["survival", "--quick", "--workers", "2", "--feature-cache"],
)


@pytest.fixture(scope="session")
def e2e_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "cohort"
    synthesize(out, 40, seed=30, workers=2)
    return out


@pytest.fixture(scope="session")
def system_bundle(e2e_cohort: Path, segmenter_artifact: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e-bundle")
    bundle = root / "bundle"
    shipped.install(bundle, segmenter_artifact)
    cache = root / "cache" / "features"
    for argv in TRAINING:
        # fixtures are not timed by pytest-timeout (timeout_func_only): each step has its own
        # limit, so a slow machine lengthens the setup instead of failing the first test
        result = subprocess.run([sys.executable, "-m", "cervixai.cli", "train", *argv,
                                 str(cache), "--cohort", str(e2e_cohort), "--out", str(bundle)],
                                capture_output=True, text=True, timeout=1500)
        assert result.returncode == 0, f"train {argv[0]} failed:\n{result.stderr[-4000:]}"
    return bundle


@dataclass
class System:
    env: dict[str, str]
    processes: dict[str, ServiceProcess]
    http_url: str
    grpc_address: str
    cohort: Path
    patient: str
    record: dict[str, object]
    preoperative: dict[str, object]
    series_files: list[Path] = field(default_factory=list)

    def restart(self, name: str) -> ServiceProcess:
        """Start ``name`` again on its old port (after a test stopped it)."""
        old = self.processes[name]
        assert old.log is not None
        self.processes[name] = ServiceProcess(BY_NAME[name].module, old.port, self.env,
                                              old.log.with_name(f"{name}-restarted.log"))
        return self.processes[name]


def _start(component: Component, env: dict[str, str], logs: Path) -> ServiceProcess:
    return ServiceProcess(component.module, int(env[f"{component.prefix}_PORT"]), env,
                          logs / f"{component.module}.log")


@pytest.fixture(scope="session")
def system(system_bundle: Path, e2e_cohort: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    env = {**os.environ, "CERVIXAI_BUNDLE": str(system_bundle),
           "CERVIXAI_GATEWAY_HTTP_PORT": str(free_port()),
           "CERVIXAI_GATEWAY_AUDIT_LOG": str(logs / "audit.jsonl")}
    for c in COMPONENTS:
        env[f"{c.prefix}_HOST"] = "127.0.0.1"
        env[f"{c.prefix}_PORT"] = str(free_port())
        env[c.address_variable] = f"127.0.0.1:{env[f'{c.prefix}_PORT']}"
    processes = {c.name: _start(c, env, logs) for c in COMPONENTS}
    try:
        for c in COMPONENTS:
            processes[c.name].wait_serving(c.service, timeout=180)
        http_url = processes["gateway"].wait_http(int(env["CERVIXAI_GATEWAY_HTTP_PORT"]))
        _, rows = cf.read_csv(e2e_cohort / cf.CLINICAL_CSV)
        row = next(r for r in rows if r["split"] == "test" and r["tumor_size_cm"])
        from cervixai.clinical.schema import Stage

        record = cf.record_of(row, Stage.POSTOPERATIVE)
        pre = cf.record_of(row, Stage.PREOPERATIVE)
        files = sorted((e2e_cohort / cf.IMAGES_DIR / row["patient_id"]).glob("*.dcm"))
        yield System(env, processes, http_url, env["CERVIXAI_GATEWAY_ADDRESS"], e2e_cohort,
                     row["patient_id"], record, pre, files)
    finally:
        for process in processes.values():
            process.stop()
