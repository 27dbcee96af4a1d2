"""The audit log: one JSON line per assessment request.

Fields: request_id, time (UTC), api, client, caller (the authenticated subject: the token's
``sub``, or ``client_id`` / ``azp``; null without authentication), stage, status, http/grpc
code, model versions, per-stage durations, upload bytes, warning count, the kinds of the result
objects returned. Never a patient identifier (nor the subject reference), a clinical value, a
file name, nor any other content of the caller's token.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from cervix.v1 import gateway_pb2
from gateway.auth import current_identity


class AuditLog:
    """Appends JSON lines to a file (or stderr), one writer lock per process."""

    def __init__(self, path: str | None) -> None:
        self._lock = threading.Lock()
        self._stream: TextIO
        if path:
            # who asked for what, when, from where: readable by the gateway's user only. A
            # folder the gateway creates is 0700; an existing file or folder keeps its mode.
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._stream = open(descriptor, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._stream = sys.stderr
            self._owned = False

    def record(self, *, request_id: str, api: str, client: str, stage: str, status: str,
               code: str, upload_bytes: int, durations: dict[str, float],
               response: gateway_pb2.AssessResponse | None) -> None:
        entry: dict[str, Any] = {
            "audit": "assessment",
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "api": api,
            "client": client,
            # set by the API's authorization for the request being handled (gateway/authz.py)
            "caller": identity.subject if (identity := current_identity.get()) else None,
            "stage": stage,
            "status": status,
            "code": code,
            "upload_bytes": upload_bytes,
            "durations_seconds": {k: round(v, 4) for k, v in durations.items()},
        }
        if response is not None:
            entry["models"] = {m.name: m.version for m in response.models}
            entry["warnings"] = len(response.warnings)
            entry["results"] = [gateway_pb2.ResultKind.Name(o.kind)
                                for o in response.result_objects]
        line = json.dumps(entry, sort_keys=True)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()


