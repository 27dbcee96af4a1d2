"""Sending result objects to a destination: C-STORE SCU (pynetdicom) or STOW-RS (httpx).

Each attempt ends in one :class:`Outcome`: ``sent``, ``transient`` (retried with backoff: the
destination is unreachable, busy, out of resources, or the association was rejected
transiently), or ``permanent`` (never retried: the destination refused the object itself — SOP
class not supported, data set refused, not authorised — or rejected the association
permanently). The status text says which code or reason it was, never anything identifying.
"""

from __future__ import annotations

import logging
import secrets
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx
import pydicom
from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import AE

from listener.config import Destination

log = logging.getLogger(__name__)

RESULT_CLASSES = (uid.SegmentationStorage, uid.Comprehensive3DSRStorage)
_SYNTAXES = [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian]


class Outcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    status: str


def classify_status(code: int) -> Outcome:
    """A C-STORE response status (PS3.4 Annex B.2.3 and PS3.7 Annex C)."""
    if code == 0x0000 or 0xB000 <= code <= 0xBFFF:   # success, or a warning: stored
        return Outcome.SENT
    if 0xA700 <= code <= 0xA7FF or code in (0x0213, 0x0210, 0xFE00):
        # out of resources, resource limitation, duplicate invocation, cancelled
        return Outcome.TRANSIENT
    return Outcome.PERMANENT   # 0xA9xx data set mismatch, 0xCxxx cannot understand, 0x0122 ...


def send_c_store(path: Path, destination: Destination, calling_ae_title: str,
                 timeout_seconds: float, tls: ssl.SSLContext | None = None) -> Attempt:
    """One C-STORE; over TLS when ``tls`` is given (the destination's certificate verified for
    its host name)."""
    dataset = pydicom.dcmread(path)
    ae = AE(ae_title=calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_seconds
    ae.connection_timeout = timeout_seconds
    for sop_class in RESULT_CLASSES:
        ae.add_requested_context(sop_class, _SYNTAXES)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title,
                         tls_args=(tls, destination.host) if tls is not None else None)
    if not assoc.is_established:
        if assoc.is_rejected and assoc.acceptor.primitive is not None:
            result = assoc.acceptor.primitive.result
            reason = assoc.acceptor.primitive.diagnostic
            return Attempt(Outcome.PERMANENT if result == 0x01 else Outcome.TRANSIENT,
                           f"association rejected (result {result}, reason {reason})")
        # pynetdicom reports a refused or timed-out connection as an aborted association
        return Attempt(Outcome.TRANSIENT, "no association (connection refused, timed out or "
                                          "aborted)")
    try:
        status = assoc.send_c_store(dataset)
    finally:
        assoc.release()
    if not isinstance(status, Dataset) or "Status" not in status:
        return Attempt(Outcome.TRANSIENT, "no response (timeout or abort)")
    code = int(status.Status)
    return Attempt(classify_status(code), f"0x{code:04X}")


def send_stow(path: Path, url: str, token: str | None, timeout_seconds: float) -> Attempt:
    """STOW-RS (PS3.18 §10.5): one instance as multipart/related; type="application/dicom"."""
    boundary = f"cervixai-{secrets.token_hex(12)}"
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode())
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; '
                               f"boundary={boundary}",
               "Accept": "application/dicom+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        reply = httpx.post(url.rstrip("/") + "/studies", content=body, headers=headers,
                           timeout=timeout_seconds)
    except httpx.HTTPError as e:
        return Attempt(Outcome.TRANSIENT, type(e).__name__)
    status = f"HTTP {reply.status_code}"
    if reply.status_code in (200, 202):
        failed = _failed_sop_count(reply)
        return Attempt(Outcome.SENT if failed == 0 else Outcome.PERMANENT, status)
    if reply.status_code in (408, 429) or reply.status_code >= 500:
        return Attempt(Outcome.TRANSIENT, status)
    return Attempt(Outcome.PERMANENT, status)


def _failed_sop_count(reply: httpx.Response) -> int:
    """Instances the STOW-RS response's Failed SOP Sequence (0008,1198) lists."""
    try:
        body = reply.json()
    except ValueError:
        return 0
    failed = body.get("00081198", {}).get("Value", []) if isinstance(body, dict) else []
    return len(failed)
