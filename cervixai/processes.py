"""Running cervixai servers as child processes: start, wait for grpc.health.v1 SERVING (and, for
the gateway, its HTTP port), stop.

Used by ``cervixai up``, the benchmarks and the tests, so that all of them start the real
servers the same way.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, timeout: float = 30.0, process: ServiceProcess | None = None) -> str:
    """Block until an HTTP server on ``127.0.0.1:port`` answers ``/healthz`` (any status counts);
    its base URL, ``http://127.0.0.1:port/``. TimeoutError after ``timeout`` seconds;
    RuntimeError when ``process`` exits first."""
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.process.poll() is not None:
            raise RuntimeError(f"{process.module} exited with code "
                               f"{process.process.returncode}:\n{process.tail()}")
        try:
            httpx.get(f"{url}healthz", timeout=2)
            return url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answers HTTP on port {port} after {timeout:.0f} s" + (
                f":\n{process.tail()}" if process is not None else ""))
        time.sleep(0.2)


class ServiceProcess:
    """A server started as ``python -m MODULE``, listening on ``127.0.0.1:port``."""

    def __init__(self, module: str, port: int, env: Mapping[str, str],
                 log: Path | None = None) -> None:
        self.module = module
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.log = log
        self._handle: IO[bytes] | None = log.open("wb") if log is not None else None
        self._signalled = False
        self.process = subprocess.Popen([sys.executable, "-m", module], env=dict(env),
                                        stdout=self._handle, stderr=subprocess.STDOUT
                                        if self._handle else None)

    def tail(self) -> str:
        """The end of the process's log."""
        return self.log.read_text(errors="replace")[-4000:] if self.log else "(see stderr)"

    def wait_serving(self, service: str = "", timeout: float = 120.0) -> None:
        """Block until health reports SERVING; raise if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.module} exited with code "
                                       f"{self.process.returncode}:\n{self.tail()}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.module} not SERVING after {timeout:.0f} s:\n"
                                       f"{self.tail()}")
                time.sleep(0.2)

    def wait_http(self, port: int, timeout: float = 30.0) -> str:
        """:func:`wait_http` for this process's HTTP port (the gateway's); raises as
        :meth:`wait_serving` does when the process exits first."""
        return wait_http(port, timeout, self)

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory so far (VmHWM, the kernel's own count; Linux)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM for {self.module}")

    def terminate(self) -> None:
        """Ask the process to drain and stop (SIGTERM), once: a second SIGTERM could arrive
        while the interpreter shuts down, when Python has restored the default handler."""
        if self.process.poll() is None and not self._signalled:
            self._signalled = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; the exit code."""
        self.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._handle is not None:
            self._handle.close()
        return int(self.process.returncode)
