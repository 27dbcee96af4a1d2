"""The real system started from a bundle for one evaluation: the segmenter, classifier and
survival services and the gateway as processes on free loopback ports (wired as ``cervixai up``
wires them), stopped at the end."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from types import TracebackType

from cervixai.processes import ServiceProcess, free_port
from cervixai.service.components import COMPONENTS

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A component did not start, or the gateway never became ready."""


def wait_ready(http_url: str, timeout_seconds: float) -> None:
    """Block until ``GET /readyz`` answers 200 (every backend SERVING)."""
    import httpx

    deadline = time.monotonic() + timeout_seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(f"{http_url.rstrip('/')}/readyz", timeout=5)
            if reply.status_code == 200:
                return
            last = f"HTTP {reply.status_code}: {reply.text[:300]}"
        except httpx.TransportError as e:
            last = type(e).__name__
        time.sleep(0.3)
    raise StartupError(f"the gateway at {http_url} is not ready after {timeout_seconds:.0f} s "
                       f"({last})")


class LocalSystem:
    """``with LocalSystem(bundle) as system:`` — ``system.http_url``, ``system.grpc_address``."""

    def __init__(self, bundle: Path, *, logs: Path | None = None,
                 start_timeout_seconds: float = 180.0) -> None:
        self.bundle = bundle.resolve()
        self.start_timeout_seconds = start_timeout_seconds
        self._own_logs = tempfile.TemporaryDirectory(prefix="cervixai-evaluate-") \
            if logs is None else None
        self.logs = Path(self._own_logs.name) if self._own_logs else logs
        assert self.logs is not None
        self.processes: list[ServiceProcess] = []
        self.http_url = ""
        self.grpc_address = ""

    def __enter__(self) -> LocalSystem:
        assert self.logs is not None
        self.logs.mkdir(parents=True, exist_ok=True)
        http_port = free_port()
        env = {**os.environ, "CERVIXAI_BUNDLE": str(self.bundle),
               "CERVIXAI_GATEWAY_HTTP_HOST": "127.0.0.1",
               "CERVIXAI_GATEWAY_HTTP_PORT": str(http_port),
               "CERVIXAI_GATEWAY_AUDIT_LOG": str(self.logs / "audit.jsonl")}
        ports = {c.name: free_port() for c in COMPONENTS}
        for c in COMPONENTS:
            env[f"{c.prefix}_HOST"] = "127.0.0.1"
            env[f"{c.prefix}_PORT"] = str(ports[c.name])
            if c.name != "gateway":
                env[f"{c.prefix}_ADDRESS"] = f"127.0.0.1:{ports[c.name]}"
        try:
            for c in COMPONENTS:
                self.processes.append(ServiceProcess(c.module, ports[c.name], env,
                                                     self.logs / f"{c.name}.log"))
            for c, process in zip(COMPONENTS, self.processes, strict=True):
                try:
                    process.wait_serving(c.service, self.start_timeout_seconds)
                except (RuntimeError, TimeoutError) as e:
                    raise StartupError(f"{c.name} did not start: {e}") from None
                log.info("%s SERVING on %s", c.name, process.address)
            self.http_url = f"http://127.0.0.1:{http_port}"
            self.grpc_address = f"127.0.0.1:{ports['gateway']}"
            wait_ready(self.http_url, self.start_timeout_seconds)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self._own_logs is not None:
            self._own_logs.cleanup()
            self._own_logs = None
