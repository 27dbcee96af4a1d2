"""Start cervixai's images as the Kubernetes manifests run them, and prove the system works.

    python deploy/podman/deploy_test.py BUNDLE_DIR [--version 0.1.0] [--keep]

(`make deploy-test` builds the images first.) On one podman network, each container in its own
network namespace like a pod, under its Service's name (``cervixai-segmenter`` ...):

* the bundle image as an init step copies the bundle into a volume per backend (the emptyDir);
* the three backends and the gateway run as the manifests run them: uid 10001, read-only root
  filesystem, every capability dropped, no new privileges, the bundle volume read-only, /tmp a
  tmpfs, configuration only from the kustomize base's ``*.env`` files (``--env-file``);
* the DICOM listener runs likewise, its spool a volume;
* it waits for grpc.health.v1 SERVING on each, runs one assessment over HTTP and one over gRPC
  through the containerised gateway, one study by C-STORE into the listener with its record
  PUT on the gateway (assessed across the containers), scrapes each process's ``/metrics``,
  then sends SIGTERM to each (gateway first) and checks that each drained and exited 0;
* with ``--replicas 2`` (the default) each backend runs twice under its one Service name, as a
  headless Service resolves to every ready pod: the backends' own metrics must show requests on
  both replicas, killing one classifier replica under load must fail no request (the gateway's
  retry on UNAVAILABLE goes to the other), and the restarted replica must serve again.

Prints what it measured (image sizes, start times, answer times) and exits non-zero on the first
failure, with the containers' logs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes" / "base"
NETWORK = "cervixai-deploy-test"
BACKENDS = {"segmenter": (50051, "cervix.v1.Segmenter"), "classifier": (50052,
            "cervix.v1.Classifier"), "survival": (50053, "cervix.v1.Survival")}
# k8s-file: the logs are readable by ``podman logs`` whatever the host's default log driver is (a
# host without journald shows none with the journald driver).
HARDENING = ["--log-driver", "k8s-file", "--read-only", "--user", "10001:10001",
             "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
             "--tmpfs", "/tmp:rw,size=64m,mode=1777"]


class Failure(Exception):
    pass


def podman(*args: str, check: bool = True, timeout: float = 300) -> str:
    result = subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise Failure(f"podman {' '.join(args[:3])}…: {result.stderr.strip()[-800:]}")
    return result.stdout.strip()


def host_port(name: str, port: int) -> int:
    mapping = podman("port", name, f"{port}/tcp")
    return int(mapping.splitlines()[0].rsplit(":", 1)[1])


def wait_serving(address: str, service: str, timeout: float = 180) -> float:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    started = time.monotonic()
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() - started < timeout:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.monotonic() - started
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise Failure(f"{service} at {address} not SERVING within {timeout:.0f} s")


def start(name: str, image: str, env_file: Path, volume: str, ports: list[int],
          alias: str) -> None:
    publish = [a for p in ports for a in ("-p", f"127.0.0.1::{p}")]
    podman("run", "-d", "--name", name, "--network", NETWORK, "--network-alias", alias,
           *HARDENING, "--env-file", str(env_file), "-v", f"{volume}:/models:ro", *publish,
           image)


def study(work: Path) -> tuple[dict[str, Any], list[Path]]:
    """One synthetic postoperative patient: its clinical record and DICOM files."""
    from cervixai.clinical.schema import Stage
    from cervixai.cohort import format as cf
    from cervixai.cohort.synth import synthesize

    cohort = work / "cohort"
    synthesize(cohort, 4, seed=77, workers=1)
    _, rows = cf.read_csv(cohort / cf.CLINICAL_CSV)
    row = next(r for r in rows if r["tumor_size_cm"])
    record = cf.record_of(row, Stage.POSTOPERATIVE)
    files = sorted((cohort / cf.IMAGES_DIR / row["patient_id"]).glob("*.dcm"))
    return record, files


def assess(http_port: int, grpc_port: int, record: dict[str, Any], files: list[Path]
           ) -> dict[str, float]:
    import grpc
    import httpx

    from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
    from cervixai.clinical.proto import record_to_proto
    from cervixai.clinical.schema import Stage
    from cervixai.clinical.validate import validate_record
    from cervixai.service import DEFAULT_MAX_MESSAGE_BYTES, channel_options

    times = {}
    started = time.monotonic()
    reply = httpx.post(f"http://127.0.0.1:{http_port}/v1/assessments",
                       data={"stage": "postoperative", "clinical": json.dumps(record),
                             "results": "dicom-seg,dicom-sr,fhir"},
                       files=[("files", (f.name, f.read_bytes(), "application/dicom"))
                              for f in files], timeout=300)
    times["http_assessment_seconds"] = time.monotonic() - started
    if reply.status_code != 200:
        raise Failure(f"HTTP assessment: {reply.status_code} {reply.text[:500]}")
    body = reply.json()
    if len(body["predictions"]) != 4 or len(body["survival"]) != 2 \
            or len(body.get("result_objects", [])) != 3:
        raise Failure(f"HTTP assessment incomplete: {sorted(body)}")
    request = gateway_pb2.AssessRequest(
        stage=common_pb2.STAGE_POSTOPERATIVE,
        clinical=record_to_proto(validate_record(record, Stage.POSTOPERATIVE)),
        dicom_files=[gateway_pb2.DicomFile(name=f.name, data=f.read_bytes()) for f in files])
    started = time.monotonic()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}",
                               options=channel_options(DEFAULT_MAX_MESSAGE_BYTES)) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
        answer = stub.Assess(request, timeout=300)
    times["grpc_assessment_seconds"] = time.monotonic() - started
    same = [round(p.probability, 6) for p in answer.predictions] == [
        round(p["probability"], 6) for p in body["predictions"]]
    if not same:
        raise Failure("gRPC and HTTP gave different probabilities for the same study")
    return times


def served_count(port: int, service: str) -> float:
    """OK RPCs a backend replica served (its own cervixai_grpc_requests_total)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "cervixai_grpc_requests_total"
               and sample.labels.get("service") == service
               and sample.labels.get("code") == "OK")


def scale_out(http_port: int, record: dict[str, Any], files: list[Path], requests: int,
              image: str) -> dict[str, Any]:
    """Two replicas of each backend under one name: requests spread over both; one classifier
    replica killed under load fails no request; restarted, it serves again."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    data = {"stage": "postoperative", "clinical": json.dumps(record)}
    uploads = [("files", (f.name, f.read_bytes(), "application/dicom")) for f in files]

    def one(_: int) -> int:
        return httpx.post(f"http://127.0.0.1:{http_port}/v1/assessments", data=data,
                          files=uploads, timeout=300).status_code

    def counts() -> dict[str, list[float]]:
        return {service: [served_count(host_port(f"cx-{service}{suffix}", 9090), service)
                          for suffix in ("", "-2")] for service in BACKENDS}

    before = counts()
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(one, range(requests)))
    spread = {s: [round(a - b) for a, b in zip(after, before[s], strict=True)]
              for s, after in counts().items()}
    if codes.count(200) != requests or not all(min(n) > 0 for n in spread.values()):
        raise Failure(f"scale-out: codes {codes}, requests per replica {spread}")
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, i) for i in range(requests)]
        time.sleep(1.0)
        podman("kill", "cx-classifier-2")
        killed_codes = [f.result() for f in futures]
    if killed_codes.count(200) != requests:
        raise Failure(f"a replica killed under load failed requests: {killed_codes}")
    # As Kubernetes replaces a killed container: a new one under the same Service name (restarting
    # the killed one in place would keep podman's record of the kill, exit status 137).
    podman("rm", "-f", "cx-classifier-2")
    start("cx-classifier-2", image, BASE / "classifier" / "classifier.env", "cx-models-classifier",
          [50052, 9090], "cervixai-classifier")
    wait_serving(f"127.0.0.1:{host_port('cx-classifier-2', 50052)}", "cervix.v1.Classifier")
    start_count = served_count(host_port("cx-classifier-2", 9090), "classifier")
    rejoined_after = None
    started = time.monotonic()
    while time.monotonic() - started < 60:
        if one(0) != 200:
            raise Failure("an assessment failed after the replica restarted")
        if served_count(host_port("cx-classifier-2", 9090), "classifier") > start_count:
            rejoined_after = time.monotonic() - started
            break
    return {"requests_per_replica": spread, "killed_replica_failed_requests":
            requests - killed_codes.count(200),
            "rejoined_after_seconds": None if rejoined_after is None
            else round(rejoined_after, 1)}


LISTENER_CALLER = "DEPLOYTEST"


def through_the_listener(http_port: int, record: dict[str, Any], files: list[Path]
                         ) -> dict[str, Any]:
    """A study by C-STORE into the listener's container, its record by PUT on the gateway's; the
    assessment runs across the containers. The base's destination is a placeholder that does
    not resolve here, so the study ends up exporting (retrying), which is what is checked."""
    import httpx
    import pydicom
    from pynetdicom import AE

    ae = AE(ae_title=LISTENER_CALLER)
    datasets = [pydicom.dcmread(f) for f in files]
    ae.add_requested_context(datasets[0].SOPClassUID, datasets[0].file_meta.TransferSyntaxUID)
    started = time.monotonic()
    assoc = ae.associate("127.0.0.1", host_port("cx-listener", 11112), ae_title="CERVIXAI")
    if not assoc.is_established:
        raise Failure("the listener's container refused the association")
    statuses = [int(assoc.send_c_store(ds).Status) for ds in datasets]
    assoc.release()
    if set(statuses) != {0}:
        raise Failure(f"C-STORE statuses {sorted(set(statuses))}")
    uid = datasets[0].StudyInstanceUID
    reply = httpx.put(f"http://127.0.0.1:{http_port}/v1/studies/{uid}/clinical", timeout=30,
                      json={"stage": "postoperative", "clinical": record})
    if reply.status_code != 202:
        raise Failure(f"PUT clinical: {reply.status_code} {reply.text[:300]}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = httpx.get(f"http://127.0.0.1:{http_port}/v1/studies/{uid}", timeout=30).json()
        if status["state"] in ("STUDY_STATE_EXPORTING", "STUDY_STATE_FAILED",
                               "STUDY_STATE_DONE"):
            break
        time.sleep(0.5)
    if status["state"] != "STUDY_STATE_EXPORTING" or not status["request_id"]:
        raise Failure(f"the study through the listener: {status}")
    return {"instances": int(status["instances"]), "assessed_after_seconds":
            round(time.monotonic() - started, 1),
            "exports": sorted({e["last_status"] for e in status["exports"]} - {""})}


def scrape(port: int, must: list[str]) -> None:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    missing = [m for m in must if m not in text]
    if missing:
        raise Failure(f"metrics on :{port} lack {missing}")


def stop_cleanly(name: str) -> float:
    started = time.monotonic()
    podman("stop", "--time", "40", name, timeout=60)
    code = podman("inspect", "--format", "{{.State.ExitCode}}", name)
    if code != "0":
        raise Failure(f"{name} exited {code} on SIGTERM after "
                      f"{time.monotonic() - started:.1f} s")
    return time.monotonic() - started


def cleanup(names: list[str], volumes: list[str]) -> None:
    for name in names:
        podman("rm", "-f", name, check=False)
    for volume in volumes:
        podman("volume", "rm", "-f", volume, check=False)
    podman("network", "rm", "-f", NETWORK, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="the bundle the bundle image was built from "
                        "(only checked for a manifest: the image delivers it)")
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    parser.add_argument("--replicas", type=int, choices=(1, 2), default=2,
                        help="backend replicas under one Service name (2: the scale-out check)")
    args = parser.parse_args()
    if shutil.which("podman") is None:
        print("deploy-test: podman is not installed", file=sys.stderr)
        return 2
    if not (args.bundle / "manifest.json").is_file():
        print(f"deploy-test: {args.bundle} is not a bundle", file=sys.stderr)
        return 2
    v = args.version
    replicas = [f"cx-{s}-2" for s in BACKENDS] if args.replicas == 2 else []
    names = [*replicas, *(f"cx-{s}" for s in (*BACKENDS, "listener", "gateway"))]
    volumes = [*(f"cx-models-{s}" for s in BACKENDS), "cx-spool"]
    cleanup(names, volumes)
    report: dict[str, Any] = {"images_mb": {}}
    try:
        for image in ("gateway", "segmenter", "classifier", "survival", "listener", "bundle"):
            size = podman("image", "inspect", "--format", "{{.Size}}", f"cervixai/{image}:{v}")
            report["images_mb"][image] = round(int(size) / 1e6)
        podman("network", "create", NETWORK)
        for service in BACKENDS:   # the init container: the bundle into the pod's emptyDir
            podman("volume", "create", f"cx-models-{service}")
            podman("run", "--rm", *HARDENING, "-v", f"cx-models-{service}:/models:U",
                   f"cervixai/bundle:{v}")
        started = time.monotonic()
        for service, (port, _) in BACKENDS.items():
            for suffix in ("", "-2")[:args.replicas]:
                start(f"cx-{service}{suffix}", f"cervixai/{service}:{v}",
                      BASE / service / f"{service}.env", f"cx-models-{service}", [port, 9090],
                      f"cervixai-{service}")
        # the DICOM listener: its spool a volume (the StatefulSet's claim), any AE title admitted
        # (the host's calls arrive from the network's gateway address), a short quiet period
        podman("volume", "create", "cx-spool")
        podman("run", "-d", "--name", "cx-listener", "--network", NETWORK,
               "--network-alias", "cervixai-listener", *HARDENING,
               "--env-file", str(BASE / "listener" / "listener.env"),
               "-e", f"CERVIXAI_LISTENER_ALLOWED_CALLERS={LISTENER_CALLER}",
               "-e", "CERVIXAI_LISTENER_QUIET_SECONDS=2",
               "-v", "cx-spool:/var/lib/cervixai/spool:U", "-p", "127.0.0.1::50054",
               "-p", "127.0.0.1::9090", "-p", "127.0.0.1::11112", f"cervixai/listener:{v}")
        podman("run", "-d", "--name", "cx-gateway", "--network", NETWORK,
               "--network-alias", "cervixai-gateway", *HARDENING,
               "--env-file", str(BASE / "gateway" / "gateway.env"),
               "-p", "127.0.0.1::8080", "-p", "127.0.0.1::50050", f"cervixai/gateway:{v}")
        report["serving_after_seconds"] = {
            service: round(wait_serving(f"127.0.0.1:{host_port(f'cx-{service}', port)}",
                                        name), 1)
            for service, (port, name) in BACKENDS.items()}
        for service, (port, name) in BACKENDS.items():
            for suffix in ("-2",)[:args.replicas - 1]:
                wait_serving(f"127.0.0.1:{host_port(f'cx-{service}{suffix}', port)}", name)
        wait_serving(f"127.0.0.1:{host_port('cx-listener', 50054)}", "cervix.v1.Studies")
        wait_serving(f"127.0.0.1:{host_port('cx-gateway', 50050)}", "cervix.v1.Gateway")
        report["all_serving_seconds"] = round(time.monotonic() - started, 1)
        with tempfile.TemporaryDirectory() as work:
            record, files = study(Path(work))
            report.update({k: round(t, 2) for k, t in assess(
                host_port("cx-gateway", 8080), host_port("cx-gateway", 50050), record,
                files).items()})
            report["listener"] = through_the_listener(host_port("cx-gateway", 8080), record,
                                                      files)
            if args.replicas == 2:
                report["scale_out"] = scale_out(host_port("cx-gateway", 8080), record, files,
                                                requests=12, image=f"cervixai/classifier:{v}")
        for service in BACKENDS:
            scrape(host_port(f"cx-{service}", 9090),
                   ["cervixai_model_info{", "cervixai_grpc_requests_total{",
                    "cervixai_build_info{"])
        scrape(host_port("cx-listener", 9090), ["cervixai_listener_instances_total{",
                                                "cervixai_listener_assessments_total{"])
        scrape(host_port("cx-gateway", 8080), ["cervixai_gateway_assessments_total{",
                                               'code="OK"'])
        if args.keep:
            print(json.dumps(report, indent=2))
            return 0
        report["stop_seconds"] = {n: round(stop_cleanly(n), 1) for n in names[::-1]}
    except (Failure, subprocess.TimeoutExpired) as e:
        for name in names:
            # the services log to stderr, which `podman logs` replays on its own stderr
            shown = subprocess.run(["podman", "logs", "--tail", "15", name],
                                   capture_output=True, text=True, timeout=60)
            logs = (shown.stdout + shown.stderr).strip()
            print(f"--- {name}\n{logs}", file=sys.stderr)
        print(f"deploy-test: FAILED: {e}", file=sys.stderr)
        cleanup(names, volumes)
        return 1
    cleanup(names, volumes)
    print(json.dumps(report, indent=2))
    print("deploy-test: passed")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
