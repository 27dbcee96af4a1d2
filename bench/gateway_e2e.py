"""End-to-end gateway benchmark: the HTTP and gRPC APIs against the same pipeline called
in-process, at concurrency 1, 4 and 16, in one run.

    python bench/gateway_e2e.py --bundle BUNDLE --cohort COHORT [--requests 32]

Starts the three services and the gateway on loopback ports, then sends the same study (one
test-split patient of COHORT, postoperative) three ways: through ``POST /v1/assessments``,
through ``Gateway/Assess``, and through an in-process :class:`gateway.pipeline.Pipeline` that
talks to the same backends. Prints p50/p95 latency and throughput per way and concurrency, and
the ratios gateway / in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx

from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from cervixai.cohort import format as cf
from cervixai.dicom import DicomSource
from cervixai.dicom.sources import read_sources
from cervixai.processes import ServiceProcess, free_port
from cervixai.service import DEFAULT_MAX_MESSAGE_BYTES, channel_options
from gateway.backends import Backends
from gateway.config import GatewayConfig
from gateway.pipeline import Pipeline
from gateway.request import GRPC_FIELDS, AssessmentRequest, parse_assessment

SERVICES = (("services.segmenter", "CERVIXAI_SEGMENTER", "cervix.v1.Segmenter"),
            ("services.classifier", "CERVIXAI_CLASSIFIER", "cervix.v1.Classifier"),
            ("services.survival", "CERVIXAI_SURVIVAL", "cervix.v1.Survival"),
            ("gateway", "CERVIXAI_GATEWAY", "cervix.v1.Gateway"))


def start(bundle: Path) -> tuple[list[ServiceProcess], dict[str, str]]:
    env = {**os.environ, "CERVIXAI_BUNDLE": str(bundle), "CERVIXAI_LOG_LEVEL": "WARNING",
           "CERVIXAI_GATEWAY_HTTP_PORT": str(free_port()),
           "CERVIXAI_GATEWAY_AUDIT_LOG": os.devnull}
    for _, prefix, _ in SERVICES:
        env[f"{prefix}_PORT"] = str(free_port())
        env[f"{prefix}_ADDRESS"] = f"127.0.0.1:{env[f'{prefix}_PORT']}"
    processes = [ServiceProcess(module, int(env[f"{prefix}_PORT"]), env)
                 for module, prefix, _ in SERVICES]
    for process, (_, _, service) in zip(processes, SERVICES, strict=True):
        process.wait_serving(service, timeout=300)
    return processes, env


def study(cohort: Path) -> tuple[dict[str, object], list[DicomSource]]:
    _, rows = cf.read_csv(cohort / cf.CLINICAL_CSV)
    row = next(r for r in rows if r["split"] == "test")
    record = cf.record_of(row, Stage.POSTOPERATIVE)
    return record, read_sources(cohort / cf.IMAGES_DIR / row["patient_id"])


def measure(call, concurrency: int, requests: int) -> dict[str, float]:
    latencies: list[float] = []

    def one(_: int) -> None:
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20)
    return {"p50": statistics.median(latencies), "p95": q[18], "rps": requests / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--cohort", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=32)
    args = parser.parse_args()
    record, files = study(args.cohort)
    processes, env = start(args.bundle.resolve())
    try:
        config = GatewayConfig.from_env(env)
        pipeline = Pipeline(Backends(config), config.max_upload_bytes)
        proto_record = record_to_proto(validate_record(record, Stage.POSTOPERATIVE))
        job = parse_assessment(Stage.POSTOPERATIVE, proto_record, files, [], GRPC_FIELDS)
        assert isinstance(job, AssessmentRequest), job
        http = httpx.Client(base_url=f"http://127.0.0.1:{env['CERVIXAI_GATEWAY_HTTP_PORT']}",
                            timeout=300, limits=httpx.Limits(max_connections=32))
        multipart = [("files", (f.name, f.data, "application/dicom")) for f in files]
        channel = grpc.insecure_channel(env["CERVIXAI_GATEWAY_ADDRESS"],
                                        options=channel_options(DEFAULT_MAX_MESSAGE_BYTES))
        stub = gateway_pb2_grpc.GatewayStub(channel)
        grpc_request = gateway_pb2.AssessRequest(
            stage=common_pb2.STAGE_POSTOPERATIVE, clinical=proto_record,
            dicom_files=[gateway_pb2.DicomFile(name=f.name, data=f.data) for f in files])

        def in_process() -> None:
            pipeline.assess(job, 300)

        def over_http() -> None:
            reply = http.post("/v1/assessments", data={"stage": "postoperative",
                                                       "clinical": json.dumps(record)},
                              files=multipart)
            reply.raise_for_status()

        def over_grpc() -> None:
            stub.Assess(grpc_request, timeout=300)

        in_process()  # warm every path once
        over_http()
        over_grpc()
        print(f"{len(files)} DICOM files, {sum(len(f.data) for f in files) / 1e6:.1f} MB, "
              f"{args.requests} requests per cell, {os.cpu_count()} cores")
        print(f"{'concurrency':>11} {'way':>10} {'p50 s':>8} {'p95 s':>8} {'req/s':>7} "
              f"{'p50 ratio':>10} {'req/s ratio':>12}")
        for concurrency in (1, 4, 16):
            base = measure(in_process, concurrency, args.requests)
            for name, call in (("in-process", None), ("http", over_http), ("grpc", over_grpc)):
                result = base if call is None else measure(call, concurrency, args.requests)
                print(f"{concurrency:>11} {name:>10} {result['p50']:>8.3f} {result['p95']:>8.3f} "
                      f"{result['rps']:>7.2f} {result['p50'] / base['p50']:>10.2f} "
                      f"{result['rps'] / base['rps']:>12.2f}")
        pipeline.close()
    finally:
        for process in processes:
            process.stop()


if __name__ == "__main__":
    main()
