"""``evaluate()``: a cohort's patients through the real serving path, and the figures."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from pathlib import Path

from cervixai.evaluate.clients import Assessor, GrpcAssessor, HttpAssessor
from cervixai.evaluate.cohort import cohort_name, load_patients, read_oracle
from cervixai.evaluate.result import Evaluation, Settings, build
from cervixai.evaluate.serving import assess_patients

log = logging.getLogger(__name__)


def evaluate(cohort: Path, *, bundle: Path | None = None, gateway: str | None = None,
             grpc: str | None = None, split: str = "test", limit: int | None = None,
             concurrency: int = 2, timeout_seconds: float = 300.0, bootstrap: int = 1000,
             seed: int = 0, logs: Path | None = None, command: str = "") -> Evaluation:
    """Send every patient of ``split`` of ``cohort`` as a postoperative study to the gateway and
    measure what it served.

    Exactly one target: ``bundle`` (the system is started from it on free loopback ports and
    stopped afterwards; ``logs`` keeps the services' logs), ``gateway`` (the base URL of a running
    gateway's HTTP API) or ``grpc`` (a running gateway's gRPC address). With ``bundle``, ``grpc``
    may be ``"local"`` to use the started gateway's gRPC API instead of HTTP.
    """
    remote_grpc = grpc if bundle is None else None
    if sum(x is not None for x in (bundle, gateway, remote_grpc)) != 1:
        raise ValueError("give exactly one target: bundle, gateway (HTTP URL) or grpc (a "
                         "running gateway's gRPC address)")
    if bundle is not None:
        from cervixai.bundle import load_bundle

        load_bundle(bundle)  # BundleError now rather than four services refusing to start
    patients = load_patients(cohort, split, limit)
    if not patients:
        raise ValueError(f"split {split!r} of {cohort} has no patient")
    oracle = read_oracle(cohort)
    started = time.monotonic()
    with ExitStack() as stack:
        if bundle is not None:
            from cervixai.evaluate.system import LocalSystem

            log.info("starting the system from bundle %s", bundle)
            system = stack.enter_context(LocalSystem(bundle, logs=logs))
            target = f"bundle {bundle}"
            assessor: Assessor = (GrpcAssessor(system.grpc_address, timeout_seconds)
                                  if grpc else HttpAssessor(system.http_url, timeout_seconds))
        elif gateway is not None:
            from cervixai.evaluate.system import wait_ready

            wait_ready(gateway, 10.0)
            target = f"gateway {gateway}"
            assessor = HttpAssessor(gateway, timeout_seconds)
        else:
            assert grpc is not None
            target = f"gateway {grpc}"
            assessor = GrpcAssessor(grpc, timeout_seconds)
        stack.callback(assessor.close)
        log.info("evaluating %d patients of split %s through the %s API", len(patients), split,
                 assessor.api)
        results = assess_patients(patients, assessor, concurrency=concurrency)
    settings = Settings(cohort=cohort_name(cohort), cohort_path=str(cohort), split=split,
                        api=assessor.api, target=target, bootstrap_rounds=bootstrap, seed=seed,
                        concurrency=concurrency, timeout_seconds=timeout_seconds, limit=limit,
                        command=command)
    return build(results, settings, oracle=oracle, seconds=time.monotonic() - started)
