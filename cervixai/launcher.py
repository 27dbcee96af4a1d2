"""``cervixai up``: the whole system on this machine, on loopback (what ``make run`` calls).

1. Builds the default model bundle when it is missing: a synthetic cohort, then the segmenter,
   classifier and survival models, each trainer showing its progress. Models of an earlier
   version that the services would refuse (another image-feature vector) are retrained in the
   default bundle; a bundle given by ``CERVIXAI_BUNDLE`` is left alone and the launcher says
   what to retrain.
2. Starts the segmenter, classifier and survival services and the gateway as processes (with
   ``--listener``, the DICOM listener too), and waits until every one reports SERVING on
   grpc.health.v1.
3. Prints the web page's URL, submits one synthetic study through the HTTP API and prints the
   result.
4. Runs until Ctrl-C (or SIGTERM), then stops every process gracefully.

Paths and ports: ``CERVIXAI_HOME`` (default ``./var``) holds ``cohort/`` and ``bundle/``;
``CERVIXAI_BUNDLE`` overrides the bundle; the gateway listens on 127.0.0.1:8080 (HTTP) and :50050
(gRPC), the services on :50051-50053 (``cervixai up --help`` for flags).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from cervixai.processes import ServiceProcess, free_port
from cervixai.service.components import BY_NAME, COMPONENTS, GATEWAY, LISTENER, Component

log = logging.getLogger(__name__)

COHORT_PATIENTS = 250
COHORT_SEED = 0
SEGMENTER_COHORT_SEED = 1000   # the shipped segmenter's cohort; no patient of COHORT_SEED's


# bundle entries each trainer writes, and the command that writes them
TRAINERS = (
    ("segmenter", ("segmenter",), ["train", "segmenter", "--quick"]),
    ("classifier", ("classifier.parametrial_invasion", "classifier.lymph_node_metastasis",
                    "classifier.recurrence", "classifier.death"),
     ["train", "classifier", "--quick", "--workers", "2"]),
    ("survival", ("survival.rfs", "survival.os"), ["train", "survival", "--quick", "--workers",
                                                   "2"]),
)


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = sub.add_parser("up", help="build what is missing, start everything on loopback, "
                                   "show it working")
    up.add_argument("--home", type=Path,
                    default=Path(os.environ.get("CERVIXAI_HOME", "var")),
                    help="folder for the cohort and the bundle (default ./var)")
    up.add_argument("--http-port", type=int, default=8080)
    up.add_argument("--grpc-port", type=int, default=GATEWAY.port,
                    help="gateway gRPC port; the segmenter, classifier and survival services "
                         "take the next three (default 50050)")
    up.add_argument("--listener", action="store_true",
                    help="also start the DICOM listener (docs/pacs.md): C-STORE on "
                         "--dicom-port from any AE title on loopback unless "
                         "CERVIXAI_LISTENER_ALLOWED_CALLERS says otherwise; results go to "
                         "CERVIXAI_LISTENER_DESTINATION when set")
    up.add_argument("--dicom-port", type=int, default=11112)
    up.add_argument("--no-demo", action="store_true", help="skip the example assessment")
    up.add_argument("--exit-after-demo", action="store_true",
                    help="stop everything after the example assessment (for scripts and CI)")
    up.set_defaults(func=lambda args: up_command(args))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cervixai.cli", *args]


def build_bundle(home: Path, bundle: Path, *, owned: bool = True) -> None:
    """Fill whatever the bundle lacks (a synthetic cohort first, if there is none).

    The segmenter is the one the repository ships (:mod:`cervixai.shipped`), trained on other
    patients than the launcher's cohort; without it (an install without the repository's
    ``models/``) the ``quick`` profile is trained — on a cohort of its own, so that the
    classifier and survival models still see out-of-sample contours. Models this version's
    services would refuse — trained on another image-feature vector or behind another segmenter
    — are retrained too when the bundle is the launcher's own (``owned``); a bundle given by
    ``CERVIXAI_BUNDLE`` is never overwritten: the launcher stops and says which models to
    retrain.
    """
    from cervixai import shipped
    from cervixai.bundle import BundleError, load_bundle

    try:
        present = load_bundle(bundle).models
    except BundleError:
        present = {}
    missing = {name for name, entries, _ in TRAINERS if not set(entries) <= set(present)}
    if owned and "segmenter" not in missing and shipped.available() and \
            present["segmenter"].version != shipped.read_entry().version:
        print(f"bundle {bundle}: replacing its segmenter by the one the repository ships")
        missing.add("segmenter")
    for name, reason in refused_models(bundle, [n for n, _, _ in TRAINERS
                                                if n not in missing]).items():
        if not owned:
            raise SystemExit(f"cervixai up: bundle {bundle}: this version cannot serve its {name} "
                             f"models ({reason}); retrain them (cervixai train {name} ... --out "
                             f"{bundle}) or set CERVIXAI_BUNDLE to another bundle")
        print(f"bundle {bundle}: retraining the {name} models, which this version cannot serve "
              f"({reason})")
        missing.add(name)
    if "segmenter" in missing:   # new contours: every model that reads them is retrained
        missing |= {"classifier", "survival"}
    if not missing:
        print(f"bundle {bundle}: complete")
        return
    cohort = home / "cohort"
    if not (cohort / "cohort.json").exists():
        print(f"building the synthetic cohort ({COHORT_PATIENTS} patients) in {cohort}")
        _run(_cli("cohort", "synth", "--n", str(COHORT_PATIENTS), "--seed", str(COHORT_SEED),
                  "--out", str(cohort)))
    for name, _, argv in TRAINERS:
        if name not in missing:
            continue
        started = time.monotonic()
        if name == "segmenter" and shipped.available():
            entry = shipped.install(bundle)
            dice = entry.metrics.get("test", {}).get("dice", {})
            print(f"installed the repository's segmenter {entry.version} into {bundle} (test "
                  f"Dice {dice.get('mean', float('nan')):.3f} on "
                  f"{entry.metrics.get('test', {}).get('patients', '?')} patients of its own "
                  f"cohort; `{shipped.REPRODUCE}` reproduces it)")
            continue
        print(f"training the {name} models into {bundle}")
        if name == "segmenter":
            _run(_cli(*argv, "--cohort", str(segmenter_cohort(home)), "--out", str(bundle),
                      "--cache", str(home / "cache" / "segmenter")))
        else:
            _run(_cli(*argv, "--cohort", str(cohort), "--out", str(bundle),
                      "--feature-cache", str(home / "cache" / "features")))
        print(f"  {name}: {time.monotonic() - started:.0f} s")
    if missing & {"classifier", "survival"}:
        record_served_evaluation(cohort, bundle)


def record_served_evaluation(cohort: Path, bundle: Path) -> None:
    """Measure the bundle through the serving path on its cohort's test split — the real
    services and gateway, started on free loopback ports — record the figures as each model's
    ``metrics.served`` (what the web page and the model card quote) and write the model card."""
    from cervixai.modelcard import EVALUATION

    print(f"measuring the served system on the test split of {cohort.name} (cervixai evaluate)")
    started = time.monotonic()
    _run(_cli("evaluate", "--cohort", str(cohort), "--bundle", str(bundle), "--split", "test",
              "--record", "--out", str(bundle / Path(EVALUATION).parent)))
    _run(_cli("model-card", "--bundle", str(bundle)))
    print(f"  evaluation: {time.monotonic() - started:.0f} s; model card "
          f"{bundle / 'model-card.md'}")


def segmenter_cohort(home: Path) -> Path:
    """A cohort of other patients than the launcher's, for training a segmenter here."""
    cohort = home / "segmenter-cohort"
    if not (cohort / "cohort.json").exists():
        print(f"building the segmenter's own synthetic cohort in {cohort}")
        _run(_cli("cohort", "synth", "--n", str(COHORT_PATIENTS), "--seed",
                  str(SEGMENTER_COHORT_SEED), "--out", str(cohort)))
    return cohort


def _run(argv: Sequence[str]) -> None:
    result = subprocess.run(argv, check=False)
    if result.returncode != 0:
        raise SystemExit(f"cervixai up: `{' '.join(argv[2:])}` failed with exit code "
                         f"{result.returncode}")


class Processes:
    """The running services: started in order, watched, restarted when one dies, and stopped
    gateway first (it drains the requests it has in flight while its backends still answer),
    then the backends."""

    # restart delays after a death: 1, 2, 4 ... s, at most 30 s; reset after 60 s of running
    BACKOFF_SECONDS = (1.0, 30.0)
    HEALTHY_AFTER_SECONDS = 60.0

    def __init__(self) -> None:
        self.running: list[tuple[Component, ServiceProcess]] = []
        self._env: dict[str, dict[str, str]] = {}
        self._restarts: dict[str, tuple[int, float]] = {}   # name -> (deaths in a row, due)
        self._started: dict[str, float] = {}

    def start(self, component: Component, env: dict[str, str]) -> None:
        self._env[component.name] = env
        self._started[component.name] = time.monotonic()
        self.running.append((component, ServiceProcess(component.module, component.port, env)))

    def wait_serving(self, timeout: float = 180.0) -> None:
        for component, process in self.running:
            try:
                process.wait_serving(component.service, timeout)
            except (RuntimeError, TimeoutError) as e:
                raise SystemExit(f"cervixai up: {component.name}: {e}") from None
            metrics = self._env[component.name].get(f"{component.prefix}_METRICS_PORT")
            where = f", metrics on http://127.0.0.1:{metrics}/metrics" if metrics else ""
            print(f"  {component.name:<11} SERVING on {process.address}{where}")

    def supervise(self) -> None:
        """Restart, with exponential backoff, any service that has exited (logged)."""
        now = time.monotonic()
        for index, (component, process) in enumerate(self.running):
            if process.process.poll() is None:
                if now - self._started[component.name] > self.HEALTHY_AFTER_SECONDS:
                    self._restarts.pop(component.name, None)
                continue
            deaths, due = self._restarts.get(component.name, (0, 0.0))
            if due == 0.0:   # just found dead: schedule the restart
                first, most = self.BACKOFF_SECONDS
                delay = min(most, first * 2 ** deaths)
                self._restarts[component.name] = (deaths, now + delay)
                log.warning("%s exited with code %s; restarting in %g s", component.name,
                            process.process.returncode, delay)
                print(f"  {component.name:<11} exited (code {process.process.returncode}); "
                      f"restarting in {delay:g} s")
            elif now >= due:
                self._restarts[component.name] = (deaths + 1, 0.0)
                self._started[component.name] = now
                self.running[index] = (component, ServiceProcess(
                    component.module, component.port, self._env[component.name]))
                print(f"  {component.name:<11} restarted")

    def stop(self) -> None:
        gateways = [(c, p) for c, p in self.running if c.name == GATEWAY.name]
        backends = [(c, p) for c, p in self.running if c.name != GATEWAY.name]
        for group in (gateways, backends):
            for _, process in group:
                process.terminate()
            for component, process in group:
                print(f"  {component.name:<11} stopped (exit code {process.stop()})")
        self.running.clear()


def refused_models(bundle: Path, names: Sequence[str]) -> dict[str, str]:
    """Trainer name → why its service refuses the bundle's models, for the classifier and
    survival models among ``names`` (their inputs follow the image-feature vector, which changes
    between versions). Each service decides itself: ``python -m services.X --check`` loads and
    warms up the models exactly as serving does (sha256, graph and provenance checks) and exits
    2 with the reason when it cannot serve them."""
    refused = {}
    for name in names:
        component = BY_NAME[name]
        if name == "segmenter":
            continue   # its graph does not depend on the feature vector
        env = {**os.environ, "CERVIXAI_BUNDLE": str(bundle), "CERVIXAI_LOG_LEVEL": "WARNING"}
        result = subprocess.run([sys.executable, "-m", component.module, "--check"], env=env,
                                capture_output=True, text=True, check=False, timeout=300)
        if result.returncode != 0:
            lines = (result.stderr.strip() or result.stdout.strip() or "no reason given")
            reason = lines.splitlines()[-1]
            refused[name] = reason.split("cannot serve the model bundle: ", 1)[-1]
    return refused


def private_home(home: Path) -> Path:
    """The launcher's folder, created if need be and made the user's only (0700): it holds the
    cohort's synthetic identities, the audit log and the services' logs."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    return home


def up_command(args: argparse.Namespace) -> int:
    home = private_home(args.home.resolve())
    given = os.environ.get("CERVIXAI_BUNDLE")
    bundle = Path(given).resolve() if given else home / "bundle"
    build_bundle(home, bundle, owned=not given)
    env = {**os.environ, "CERVIXAI_BUNDLE": str(bundle),
           "CERVIXAI_GATEWAY_HTTP_PORT": str(args.http_port),
           "CERVIXAI_GATEWAY_AUDIT_LOG": str(home / "audit.jsonl")}
    # the default ports' layout, shifted to start at --grpc-port
    started = (*COMPONENTS[:-1], LISTENER, COMPONENTS[-1]) if args.listener else COMPONENTS
    components = [dataclasses.replace(c, port=args.grpc_port + c.port - GATEWAY.port)
                  for c in started]
    for c in components:
        env[f"{c.prefix}_HOST"] = "127.0.0.1"
        env[f"{c.prefix}_PORT"] = str(c.port)
        if c.name != GATEWAY.name:
            env[c.address_variable] = f"127.0.0.1:{c.port}"
            # each backend's Prometheus endpoint on a free port (printed when it serves)
            env[f"{c.prefix}_METRICS_PORT"] = str(free_port())
    if args.listener:
        env.setdefault("CERVIXAI_LISTENER_SPOOL", str(home / "spool"))
        env.setdefault("CERVIXAI_LISTENER_ALLOWED_CALLERS", "*@127.0.0.1")
        env["CERVIXAI_LISTENER_DICOM_PORT"] = str(args.dicom_port)
        env["CERVIXAI_LISTENER_GATEWAY_ADDRESS"] = f"127.0.0.1:{args.grpc_port}"
    processes = Processes()
    stopping = {"now": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("starting the services")
        for component in components:
            processes.start(component, env)
        processes.wait_serving()
        url = f"http://127.0.0.1:{args.http_port}/"
        print(f"cervixai is running: open {url} (API docs {url}docs); Ctrl-C stops it")
        if not args.no_demo:
            demo(home / "cohort", url)
        if args.exit_after_demo:
            return 0
        while not stopping["now"]:
            processes.supervise()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping")
        processes.stop()
    return 0


def demo(cohort: Path, url: str) -> None:
    """Assess one test-split patient of the cohort through the HTTP API and print the result."""
    import httpx

    from cervixai.clinical.schema import Stage
    from cervixai.cohort import format as cf
    from cervixai.dicom.sources import read_sources

    _, rows = cf.read_csv(cohort / cf.CLINICAL_CSV)
    row = next(r for r in rows if r["split"] == "test")
    record = cf.record_of(row, Stage.POSTOPERATIVE)
    files = [("files", (s.name, s.data, "application/dicom"))
             for s in read_sources(cohort / cf.IMAGES_DIR / row["patient_id"])]
    print(f"example: postoperative assessment of synthetic patient {row['patient_id']} "
          f"({len(files)} DICOM files) through POST {url}v1/assessments")
    reply = httpx.post(f"{url}v1/assessments", data={"stage": "postoperative",
                                                     "clinical": json.dumps(record)},
                       files=files, timeout=300)
    if reply.status_code != 200:
        print(f"  the example failed: HTTP {reply.status_code}: {reply.text[:500]}")
        return
    print(format_result(reply.json()))



def format_result(result: dict[str, Any]) -> str:
    """A plain-text table of an assessment (JSON form of AssessResponse)."""
    lines = []
    seg = result.get("segmentation", {})
    m = seg.get("measurements", {})
    if m.get("lesion_found"):
        lines.append(f"  lesion: {float(m['volume_ml']):.1f} mL, largest diameter "
                     f"{float(m['max_diameter_mm']):.1f} mm, largest on slice "
                     f"{int(m['largest_slice_index']) + 1} (segmenter on {seg.get('provider')})")
    else:
        lines.append("  lesion: none found")
    for p in result.get("predictions", []):
        task = str(p["task"]).removeprefix("TASK_").replace("_", " ").lower()
        call = "ABOVE" if p.get("label") else "below"
        lines.append(f"  {task:<24} {100 * float(p['probability']):5.1f} %   {call} the "
                     f"{100 * float(p['threshold']):.1f} % threshold")
    for s in result.get("survival", []):
        outcome = str(s["outcome"]).removeprefix("SURVIVAL_OUTCOME_")
        median = (f"{float(s['median_months']):.1f} months" if s.get("median_reached")
                  else f"> {float(s['follow_up_months']):.0f} months")
        lines.append(f"  {outcome:<4} median {median}; survival 12/36/60 months "
                     + " / ".join(f"{100 * float(s[f'survival_probability_{t}_months']):.0f} %"
                                  for t in (12, 36, 60)))
    for w in result.get("warnings", []):
        lines.append(f"  warning: {w}")
    timings = {t["stage"]: float(t["seconds"]) for t in result.get("timings", [])}
    if timings:
        lines.append("  timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    return "\n".join(lines)
