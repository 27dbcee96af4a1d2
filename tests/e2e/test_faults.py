"""Faults under load: a paused classifier, a killed survival service and their recovery while
assessments keep coming, through a gateway of its own (short backend deadlines, its own audit
log) in front of the running system's backends.

Every request gets an answer — 200, or a 503 naming the backend, never a 500 and never a wait
past the backend's deadline — and the gateway's audit log and request metrics count exactly the
requests sent, by outcome.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cervixai.processes import ServiceProcess, free_port
from cervixai.service.components import GATEWAY

CLASSIFY_TIMEOUT = 3.0
ROUTE = "/v1/assessments"


def _route_counts(url: str) -> Counter[str]:
    families = text_string_to_metric_families(httpx.get(f"{url}metrics", timeout=10).text)
    return Counter({s.labels["code"]: int(s.value) for f in families for s in f.samples
                    if s.name == "cervixai_gateway_http_requests_total"
                    and s.labels.get("route") == ROUTE})


def test_faults_under_load_fail_fast_recover_and_are_all_counted(system: Any,
                                                                 tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    env = {**system.env, "CERVIXAI_GATEWAY_PORT": str(free_port()),
           "CERVIXAI_GATEWAY_HTTP_PORT": str(free_port()),
           "CERVIXAI_GATEWAY_AUDIT_LOG": str(audit),
           "CERVIXAI_GATEWAY_CLASSIFY_TIMEOUT_SECONDS": str(CLASSIFY_TIMEOUT),
           "CERVIXAI_GATEWAY_SURVIVAL_TIMEOUT_SECONDS": str(CLASSIFY_TIMEOUT)}
    gateway = ServiceProcess(GATEWAY.module, int(env["CERVIXAI_GATEWAY_PORT"]), env,
                             tmp_path / "gateway.log")
    url = f"http://127.0.0.1:{env['CERVIXAI_GATEWAY_HTTP_PORT']}/"
    uploads = [("files", (p.name, p.read_bytes(), "application/dicom"))
               for p in system.series_files]
    data = {"stage": "postoperative", "clinical": json.dumps(system.record)}
    sent: list[tuple[int, float, str]] = []

    def one(_: object = None) -> tuple[int, float, str]:
        started = time.monotonic()
        reply = httpx.post(f"{url}v1/assessments", data=data, files=uploads, timeout=60)
        backend = reply.json().get("error", {}).get("backend", "") if reply.status_code != 200 \
            else ""
        result = (reply.status_code, time.monotonic() - started, backend)
        sent.append(result)
        return result

    def until_ok(seconds: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if one()[0] == 200:
                return time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(f"no 200 within {seconds:.0f} s of the fault's end")

    classifier = system.processes["classifier"].process
    try:
        gateway.wait_serving(GATEWAY.service, timeout=60)
        gateway.wait_http(int(env["CERVIXAI_GATEWAY_HTTP_PORT"]))
        before = _route_counts(url)
        with ThreadPoolExecutor(4) as pool:
            normal = list(pool.map(one, range(8)))
            assert [r[0] for r in normal] == [200] * 8
            # a paused classifier: the first call waits out its deadline, the breaker opens and
            # the others fail at once; nothing waits longer than the deadline plus the work
            classifier.send_signal(signal.SIGSTOP)
            try:
                paused = list(pool.map(one, range(8)))
            finally:
                classifier.send_signal(signal.SIGCONT)
            recovered_after_pause = until_ok(30)
            # a killed survival service: 503 naming it, at once; then restarted
            system.processes["survival"].process.kill()
            system.processes["survival"].process.wait(10)
            killed = list(pool.map(one, range(8)))
            system.restart("survival").wait_serving("cervix.v1.Survival", timeout=120)
            recovered_after_kill = until_ok(30)
        # each answer came well inside the request's 120 s deadline: the paused classifier
        # cost its own 3 s deadline at most (the segmenter's share on 2 shared cores aside)
        print(f"paused: {sorted(round(r[1], 1) for r in paused)} s; killed: "
              f"{sorted(round(r[1], 1) for r in killed)} s; recovered after "
              f"{recovered_after_pause:.1f} s and {recovered_after_kill:.1f} s")
        assert {r[0] for r in paused} == {503} and {r[2] for r in paused} == {"classifier"}
        assert max(r[1] for r in paused) < CLASSIFY_TIMEOUT + 30
        assert {r[0] for r in killed} == {503} and {r[2] for r in killed} == {"survival"}
        assert max(r[1] for r in killed) < 30
        # every request is in the audit log and the request metrics, with its outcome
        codes = Counter(str(r[0]) for r in sent)
        assert set(codes) == {"200", "503"}
        after = _route_counts(url)
        assert after - before == codes
        lines = [json.loads(line) for line in audit.read_text().splitlines()]
        assessments = [line for line in lines if line.get("audit") == "assessment"]
        assert len(assessments) == len(sent)
        outcomes = Counter(line["code"] for line in assessments)
        assert outcomes["OK"] == codes["200"] and outcomes["UNAVAILABLE"] == codes["503"]
        assert httpx.get(f"{url}readyz", timeout=5).status_code == 200
    finally:
        classifier.send_signal(signal.SIGCONT)
        gateway.stop()
