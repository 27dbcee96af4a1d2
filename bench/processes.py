"""Peak memory of each process of a running system: at rest, under a normal load, and after the
largest study the gateway accepts — the figures the manifests' memory requests and limits rest on.

    python bench/processes.py --bundle BUNDLE [--requests 24] [--concurrency 4]

Starts the segmenter, classifier, survival service and gateway on free loopback ports (the
bundle's models), then reads each process's peak resident memory (VmHWM, the kernel's own
count) after start and warm-up, after ``--requests`` assessments of a synthetic 24-slice study at
``--concurrency``, and after two assessments at once of the largest accepted study: 64 slices
(the segmenter's limit) of 512 × 512 (resampled to the model's grid), 32 MiB of DICOM.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from cervixai.clinical.schema import Stage
from cervixai.cohort import format as cf
from cervixai.cohort.synth import synthesize
from cervixai.dicom.writer import series_datasets
from cervixai.processes import ServiceProcess, free_port
from cervixai.service.components import COMPONENTS


def largest_study() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    volume = rng.uniform(0, 1000, (64, 512, 512))
    out = []
    for k, ds in enumerate(series_datasets(volume, spacing_mm=(4.0, 0.4, 0.4))):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((f"IM{k:03d}.dcm", buffer.getvalue()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cervixai-bench-"))
    env = {**os.environ, "CERVIXAI_BUNDLE": str(args.bundle.resolve()),
           "CERVIXAI_GATEWAY_HTTP_PORT": str(free_port()), "CERVIXAI_LOG_LEVEL": "WARNING",
           "CERVIXAI_GATEWAY_AUDIT_LOG": str(work / "audit.jsonl")}
    for c in COMPONENTS:
        env[f"{c.prefix}_PORT"] = str(free_port())
        env[c.address_variable] = f"127.0.0.1:{env[f'{c.prefix}_PORT']}"
    processes = {c.name: ServiceProcess(c.module, int(env[f"{c.prefix}_PORT"]), env,
                                        work / f"{c.name}.log") for c in COMPONENTS}
    url = f"http://127.0.0.1:{env['CERVIXAI_GATEWAY_HTTP_PORT']}/"
    table: dict[str, dict[str, float]] = {}
    try:
        for c in COMPONENTS:
            processes[c.name].wait_serving(c.service, timeout=180)
        synthesize(work / "cohort", 2, seed=5, workers=1)
        _, rows = cf.read_csv(work / "cohort" / cf.CLINICAL_CSV)
        record = cf.record_of(rows[0], Stage.POSTOPERATIVE)
        files = [(p.name, p.read_bytes()) for p in sorted(
            (work / "cohort" / cf.IMAGES_DIR / rows[0]["patient_id"]).glob("*.dcm"))]
        data = {"stage": "postoperative", "clinical": json.dumps(record)}

        def assess(upload: list[tuple[str, bytes]]) -> int:
            return httpx.post(f"{url}v1/assessments", data=data, timeout=300, files=[
                ("files", (n, b, "application/dicom")) for n, b in upload]).status_code

        def record_peaks(label: str) -> None:
            for name, process in processes.items():
                table.setdefault(name, {})[label] = round(process.peak_rss_mb())

        record_peaks("started")
        with ThreadPoolExecutor(args.concurrency) as pool:
            codes = list(pool.map(lambda _: assess(files), range(args.requests)))
        assert codes == [200] * args.requests, codes
        record_peaks(f"{args.requests} studies at {args.concurrency}")
        big = largest_study()
        with ThreadPoolExecutor(2) as pool:
            codes = list(pool.map(lambda _: assess(big), range(2)))
        assert codes == [200, 200], codes
        record_peaks("2 × largest study")
    finally:
        for process in processes.values():
            process.stop()
    big_mb = sum(len(b) for _, b in big) / 2**20
    print(f"peak resident memory (MB, VmHWM) — largest study: 64 × 512 × 512, {big_mb:.0f} MiB "
          f"of DICOM")
    labels = list(next(iter(table.values())))
    print(f"{'process':<11}" + "".join(f"{label:>24}" for label in labels))
    for name, peaks in table.items():
        print(f"{name:<11}" + "".join(f"{peaks[label]:>24.0f}" for label in labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
