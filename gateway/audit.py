"""The audit log: one JSON line per assessment request, and one per clinical record sent on to
the DICOM listener.

An assessment's line (``"audit": "assessment"``) has: request_id, time (UTC), api, client,
caller (the authenticated subject: the token's ``sub``, or ``client_id`` / ``azp``; null without
authentication), stage, status, http/grpc code, model versions, per-stage durations, upload
bytes, warning count, the kinds of the result objects returned.

A clinical record's line (``"audit": "clinical"``: ``PUT /v1/studies/{uid}/clinical``,
``PUT /v1/accessions/{n}/clinical``, gRPC ``Studies/PutClinical``) has request_id, time, api,
client, caller, ``key`` (``study`` or ``accession``: which kind of key named the study, or
``invalid``), stage, status, code, ``duration_seconds`` and the study's ``state`` the listener
answered (``STUDY_STATE_AWAITING_IMAGES``, ...) when it answered one.

A STOW-RS request's line (``"audit": "stow"``: ``POST /dicom-web/studies[/{uid}]``, gRPC
``Studies/StoreInstance``) has request_id, time, api, client, caller, ``study_in_path`` (whether
the request named one study), status, code, ``instances_stored``, ``instances_failed``,
``bytes`` and ``duration_seconds``.

Never a patient identifier (nor the subject reference, nor the StudyInstanceUID or the
AccessionNumber), a clinical value, a file name, nor any other content of the caller's token.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from cervix.v1 import gateway_pb2, studies_pb2
from cervixai.errors import DependencyUnavailable, InvalidInput, Overloaded
from gateway.auth import current_identity
from gateway.backends import BackendStatus


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
        entry = _entry("assessment", request_id, api, client)
        entry.update({
            "stage": stage,
            "status": status,
            "code": code,
            "upload_bytes": upload_bytes,
            "durations_seconds": {k: round(v, 4) for k, v in durations.items()},
        })
        if response is not None:
            entry["models"] = {m.name: m.version for m in response.models}
            entry["warnings"] = len(response.warnings)
            entry["results"] = [gateway_pb2.ResultKind.Name(o.kind)
                                for o in response.result_objects]
        self._write(entry)

    def record_clinical(self, *, request_id: str, api: str, client: str, key: str, stage: str,
                        status: str, code: str, duration_seconds: float,
                        study: studies_pb2.StudyStatus | None) -> None:
        """The line of one clinical record sent on to the listener (never its key's value)."""
        entry = _entry("clinical", request_id, api, client)
        entry.update({"key": key, "stage": stage, "status": status, "code": code,
                      "duration_seconds": round(duration_seconds, 4)})
        if study is not None:
            entry["state"] = studies_pb2.StudyState.Name(study.state) \
                if study.state in studies_pb2.StudyState.values() else str(study.state)
        self._write(entry)

    def record_stow(self, *, request_id: str, api: str, client: str, study_in_path: bool,
                    status: str, code: str, stored: int, failed: int, size: int,
                    duration_seconds: float) -> None:
        """The line of one STOW-RS request (never a UID of what it stored)."""
        entry = _entry("stow", request_id, api, client)
        entry.update({"study_in_path": study_in_path, "status": status, "code": code,
                      "instances_stored": stored, "instances_failed": failed, "bytes": size,
                      "duration_seconds": round(duration_seconds, 4)})
        self._write(entry)

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()


def _entry(kind: str, request_id: str, api: str, client: str) -> dict[str, Any]:
    """What every audit line starts with."""
    return {
        "audit": kind,
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "api": api,
        "client": client,
        # set by the API's authorization for the request being handled (gateway/authz.py)
        "caller": identity.subject if (identity := current_identity.get()) else None,
    }


def outcome_of(error: BaseException) -> tuple[str, str]:
    """The audit status and the code a request that raised ``error`` is counted under."""
    if isinstance(error, InvalidInput):
        return "rejected", "INVALID_ARGUMENT"
    if isinstance(error, BackendStatus):
        return "refused", error.code.name
    if isinstance(error, DependencyUnavailable):
        return "unavailable", "UNAVAILABLE"
    if isinstance(error, Overloaded):
        return "shed", "RESOURCE_EXHAUSTED"
    return "error", "INTERNAL"
