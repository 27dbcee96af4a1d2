"""Fixtures shared by every test folder: a small synthetic cohort and real service processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cervixai.cohort.synth import synthesize


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic patients with images and SEG masks (seed 0), shared by the whole run."""
    out = tmp_path_factory.mktemp("small-cohort") / "cohort"
    synthesize(out, 24, seed=0, workers=2)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unused_port() -> Callable[[], int]:
    """A function returning a free loopback port each call."""
    return free_port


class ServiceProcess:
    """A cervixai server started as ``python -m MODULE`` on a loopback port."""

    def __init__(self, module: str, port: int, process: subprocess.Popen[bytes],
                 log: Path) -> None:
        self.module = module
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.process = process
        self.log = log

    def wait_serving(self, service: str = "", timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.module} exited with {self.process.returncode}:\n"
                                       f"{self.log.read_text()[-4000:]}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{self.module} not SERVING after {timeout} s:\n"
                           f"{self.log.read_text()[-4000:]}")

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start a service module as a real process: ``start_service("services.segmenter",
    env={...}, prefix="CERVIXAI_SEGMENTER")``; its port comes from ``PREFIX_PORT``. Every process
    started is stopped at the end of the test."""
    started: list[ServiceProcess] = []

    def start(module: str, *, prefix: str, env: Mapping[str, str] | None = None,
              wait: bool = True, service: str = "") -> ServiceProcess:
        port = free_port()
        log = tmp_path / f"{module}-{port}.log"
        environment = {**os.environ, **(env or {}), f"{prefix}_PORT": str(port),
                       f"{prefix}_HOST": "127.0.0.1"}
        handle = log.open("wb")
        process = subprocess.Popen([sys.executable, "-m", module], env=environment,
                                   stdout=handle, stderr=subprocess.STDOUT)
        started.append(ServiceProcess(module, port, process, log))
        if wait:
            started[-1].wait_serving(service)
        return started[-1]

    yield start
    for service in started:
        service.stop()
