"""Receiving a study: DICOM C-STORE into the listener against STOW-RS through the gateway, side by
side in one run, and the gateway's memory while it streams a large STOW-RS body.

    python bench/stow.py [--slices 24] [--size 256] [--repeats 3]

Starts the DICOM listener and a gateway on free loopback ports (no model service: the listener's
quiet period is an hour, so nothing is assessed), then sends the same series, each time as a new
study, ``--repeats`` times each way: by C-STORE (pynetdicom, one association), by STOW-RS in one
request, and by STOW-RS one request per instance. Every instance is fsync'd into the spool
before it is acknowledged, either way. Prints the median seconds, instances per second, the
ratio to C-STORE, and the gateway's peak resident memory (VmHWM) before and after a STOW-RS of
64 slices of 512 × 512 (32 MiB) — the gateway holds one instance at a time.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pydicom
from pynetdicom import AE

from cervixai.dicom.writer import series_datasets
from cervixai.processes import ServiceProcess, free_port
from cervixai.service.components import GATEWAY, LISTENER, MODEL_SERVICES

BOUNDARY = "cervixai-bench"


def study(slices: int, size: int, seed: int) -> list[pydicom.Dataset]:
    volume = np.random.default_rng(seed).uniform(0, 1000, (slices, size, size))
    datasets = list(series_datasets(volume))
    uid = pydicom.uid.generate_uid()
    for ds in datasets:
        ds.StudyInstanceUID = uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    return datasets


def part10(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def multipart(files: list[bytes]) -> Iterator[bytes]:
    header = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    for content in files:
        yield header + content + b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cervixai-bench-stow-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("CERVIXAI_")}
    dicom_port = free_port()
    listener_env = {**base, "CERVIXAI_LISTENER_SPOOL": str(root / "spool"),
                    "CERVIXAI_LISTENER_PORT": str(free_port()),
                    "CERVIXAI_LISTENER_METRICS_PORT": "0",
                    "CERVIXAI_LISTENER_DICOM_PORT": str(dicom_port),
                    "CERVIXAI_LISTENER_ALLOWED_CALLERS": "BENCH@127.0.0.1",
                    "CERVIXAI_LISTENER_QUIET_SECONDS": "3600",
                    "CERVIXAI_LISTENER_MAX_STUDY_BYTES": str(200 * 1024 * 1024),
                    "CERVIXAI_LISTENER_GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}"}
    listener = ServiceProcess(LISTENER.module, int(listener_env["CERVIXAI_LISTENER_PORT"]),
                              listener_env, root / "listener.log")
    http_port = free_port()
    gateway_env = {**base, "CERVIXAI_GATEWAY_PORT": str(free_port()),
                   "CERVIXAI_GATEWAY_HTTP_PORT": str(http_port),
                   **{c.address_variable: f"127.0.0.1:{free_port()}" for c in MODEL_SERVICES},
                   LISTENER.address_variable: listener.address,
                   "CERVIXAI_GATEWAY_AUDIT_LOG": str(root / "audit.jsonl")}
    gateway: ServiceProcess | None = None
    try:
        listener.wait_serving(LISTENER.service, timeout=60)
        gateway = ServiceProcess(GATEWAY.module, int(gateway_env["CERVIXAI_GATEWAY_PORT"]),
                                 gateway_env, root / "gateway.log")
        gateway.wait_serving(GATEWAY.service, timeout=60)
        http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=300)
        headers = {"Content-Type": f'multipart/related; type="application/dicom"; '
                                   f'boundary={BOUNDARY}'}

        def c_store(datasets: list[pydicom.Dataset]) -> None:
            ae = AE(ae_title="BENCH")
            ae.add_requested_context(datasets[0].SOPClassUID,
                                     datasets[0].file_meta.TransferSyntaxUID)
            assoc = ae.associate("127.0.0.1", dicom_port, ae_title="CERVIXAI")
            assert assoc.is_established, "no association"
            try:
                for ds in datasets:
                    assert int(assoc.send_c_store(ds).Status) == 0
            finally:
                assoc.release()

        def stow_one_request(datasets: list[pydicom.Dataset]) -> None:
            files = [part10(ds) for ds in datasets]
            reply = http.post("/dicom-web/studies", content=multipart(files), headers=headers)
            assert reply.status_code == 200, reply.text[:300]

        def stow_per_instance(datasets: list[pydicom.Dataset]) -> None:
            for ds in datasets:
                reply = http.post("/dicom-web/studies", content=b"".join(multipart(
                    [part10(ds)])), headers=headers)
                assert reply.status_code == 200, reply.text[:300]

        ways: dict[str, Callable[[list[pydicom.Dataset]], None]] = {
            "C-STORE (one association)": c_store,
            "STOW-RS, one request": stow_one_request,
            "STOW-RS, one request per instance": stow_per_instance,
        }
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        seed = 0
        for _ in range(args.repeats):
            for name, send in ways.items():   # interleaved: the machine's noise hits all alike
                seed += 1
                datasets = study(args.slices, args.size, seed)
                started = time.perf_counter()
                send(datasets)
                seconds[name].append(time.perf_counter() - started)
        megabytes = sum(len(part10(ds)) for ds in study(args.slices, args.size, 0)) / 1e6
        print(f"{args.slices} slices of {args.size} x {args.size} ({megabytes:.1f} MB) into the "
              f"listener, median of {args.repeats}:")
        reference = statistics.median(seconds["C-STORE (one association)"])
        for name, values in seconds.items():
            median = statistics.median(values)
            print(f"  {name:36s} {median:6.2f} s  {args.slices / median:6.1f} instances/s  "
                  f"x{median / reference:.2f} of C-STORE")
        before = gateway.peak_rss_mb()
        stow_one_request(study(64, 512, 999))
        after = gateway.peak_rss_mb()
        print(f"gateway peak RSS: {before:.0f} MB before, {after:.0f} MB after a 64 x 512 x 512 "
              f"STOW-RS (32 MiB): +{after - before:.0f} MB")
        http.close()
    finally:
        if gateway is not None:
            gateway.stop()
        listener.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
