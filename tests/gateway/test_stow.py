"""STOW-RS on the gateway (gateway/stow.py) into a real DICOM listener: both are processes on
loopback; the listener's quiet period is long, so the studies stay as received and its status
(``GET /v1/studies/{uid}``) shows what it stored.

What is checked: the Store Instances Response (Referenced / Failed SOP Sequence with PS3.18
failure reasons) and its 200 / 202 / 409; the refusals of the whole request (415, 406, 400,
413); a body over the limit streamed without a length, stopped with what was stored listed;
the gRPC twin; the audit line with counts and no UID.
"""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pydicom
import pytest

from cervix.v1 import studies_pb2, studies_pb2_grpc
from cervixai.dicom.writer import series_datasets
from cervixai.processes import ServiceProcess, free_port
from cervixai.service.components import GATEWAY, LISTENER, MODEL_SERVICES

BOUNDARY = "cervixai-test-boundary"
RELATED = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
MAX_INSTANCE = 200_000
MAX_BODY = 1_000_000
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def part10(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def series(n: int, size: int = 64, seed: int = 0) -> list[pydicom.Dataset]:
    """A series of ``n`` slices in a study of its own."""
    datasets = list(series_datasets(np.random.default_rng(seed).uniform(0, 100, (n, size, size))))
    study = pydicom.uid.generate_uid()
    for ds in datasets:
        ds.StudyInstanceUID = study
    return datasets


def part(content: bytes, content_type: str = "application/dicom") -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Type: {content_type}\r\n\r\n".encode() + content
            + b"\r\n")


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


class Site:
    def __init__(self, root: Path) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CERVIXAI_")}
        self.listener_env = {**base, "CERVIXAI_LISTENER_SPOOL": str(root / "spool"),
                             "CERVIXAI_LISTENER_HOST": "127.0.0.1",
                             "CERVIXAI_LISTENER_PORT": str(free_port()),
                             "CERVIXAI_LISTENER_METRICS_PORT": "0",
                             "CERVIXAI_LISTENER_DICOM_PORT": str(free_port()),
                             "CERVIXAI_LISTENER_QUIET_SECONDS": "3600",
                             "CERVIXAI_LISTENER_GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}"}
        self.listener = ServiceProcess(LISTENER.module,
                                       int(self.listener_env["CERVIXAI_LISTENER_PORT"]),
                                       self.listener_env, root / "listener.log")
        self.audit = root / "audit.jsonl"
        self.gateway_env = {
            **base, "CERVIXAI_GATEWAY_HTTP_PORT": str(free_port()),
            "CERVIXAI_GATEWAY_PORT": str(free_port()), "CERVIXAI_GATEWAY_HOST": "127.0.0.1",
            **{c.address_variable: f"127.0.0.1:{free_port()}"
               for c in MODEL_SERVICES},
            LISTENER.address_variable: self.listener.address,
            "CERVIXAI_GATEWAY_AUDIT_LOG": str(self.audit),
            "CERVIXAI_GATEWAY_MAX_UPLOAD_BYTES": str(MAX_INSTANCE),
            "CERVIXAI_GATEWAY_MAX_STOW_BYTES": str(MAX_BODY)}
        self.logs = root
        self.gateway: ServiceProcess | None = None

    def start(self) -> None:
        self.listener.wait_serving(LISTENER.service, timeout=60)
        self.gateway = ServiceProcess(GATEWAY.module,
                                      int(self.gateway_env["CERVIXAI_GATEWAY_PORT"]),
                                      self.gateway_env, self.logs / "gateway.log")
        self.gateway.wait_serving(GATEWAY.service, timeout=60)
        self.http = httpx.Client(base_url=self.gateway.wait_http(
            int(self.gateway_env["CERVIXAI_GATEWAY_HTTP_PORT"])), timeout=60)

    def stop(self) -> None:
        if self.gateway is not None:
            self.http.close()
            self.gateway.stop()
        self.listener.stop()

    def stow(self, content: Any, path: str = "/dicom-web/studies", **headers: str
             ) -> httpx.Response:
        return self.http.post(path, content=content,
                              headers={"Content-Type": RELATED, **headers})

    def instances(self, study_uid: str) -> int:
        reply = self.http.get(f"/v1/studies/{study_uid}")
        return int(reply.json()["instances"]) if reply.status_code == 200 else 0

    def audit_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.read_text().splitlines()
                if '"stow"' in line]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = Site(tmp_path_factory.mktemp("stow"))
    try:
        made.start()
        yield made
    finally:
        made.stop()


def sequence(reply: httpx.Response, tag: str) -> list[dict[str, Any]]:
    return [item for item in reply.json().get(tag, {}).get("Value", [])]


def uids(items: list[dict[str, Any]]) -> list[str]:
    return [item["00081155"]["Value"][0] for item in items if "00081155" in item]


def reasons(items: list[dict[str, Any]]) -> list[int]:
    return [item["00081197"]["Value"][0] for item in items]


def test_a_study_is_stored_and_what_is_not_says_why(site: Site) -> None:
    datasets = series(4)
    ct = copy.deepcopy(datasets[0])
    ct.SOPClassUID = ct.file_meta.MediaStorageSOPClassUID = CT_STORAGE
    ct.SOPInstanceUID = ct.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    big = series(1, size=512, seed=3)[0]          # 512 KB of pixels: over the instance limit
    reply = site.stow(body(*(part(part10(ds)) for ds in datasets), part(part10(ct)),
                           part(b"not an image", "text/plain"), part(part10(big))),
                      Accept="application/dicom+json")
    assert reply.status_code == 202, reply.text
    assert reply.headers["content-type"].startswith("application/dicom+json")
    stored = sequence(reply, "00081199")
    assert uids(stored) == [ds.SOPInstanceUID for ds in datasets]
    assert {item["00081150"]["Value"][0] for item in stored} == {datasets[0].SOPClassUID}
    failed = sequence(reply, "00081198")
    assert reasons(failed) == [0x0122, 0xC000, 0xA700]
    assert uids(failed) == [ct.SOPInstanceUID]       # the others' UIDs were never read
    warning = reply.headers["warning"]
    assert warning.startswith('299 cervixai "') and "only MR Image Storage" in warning
    assert f"over the limit of {MAX_INSTANCE} bytes" in warning
    assert site.instances(datasets[0].StudyInstanceUID) == 4
    # sent again: the same instances, stored again (idempotent: still 4), 200
    again = site.stow(body(*(part(part10(ds)) for ds in datasets)))
    assert again.status_code == 200 and "warning" not in again.headers
    assert "00081198" not in again.json()
    assert site.instances(datasets[0].StudyInstanceUID) == 4
    # audited with counts; no UID in the audit log or the gateway's log
    first, second = site.audit_lines()[-2:]
    assert (first["status"], first["instances_stored"], first["instances_failed"]) == (
        "partial", 4, 3)
    assert (second["status"], second["code"], second["instances_stored"]) == ("ok", "OK", 4)
    assert first["study_in_path"] is False and first["bytes"] > 500_000
    written = site.audit.read_text() + (site.logs / "gateway.log").read_text() + (
        site.logs / "listener.log").read_text()
    for ds in (*datasets, ct):
        for value in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.PatientID):
            assert str(value) not in written


def test_a_study_in_the_path_refuses_other_studies(site: Site) -> None:
    mine, theirs = series(2, seed=4), series(2, seed=5)
    path = f"/dicom-web/studies/{mine[0].StudyInstanceUID}"
    refused = site.stow(body(*(part(part10(ds)) for ds in theirs)), path)
    assert refused.status_code == 409, refused.text
    assert reasons(sequence(refused, "00081198")) == [0xA900, 0xA900]
    assert "another study" in refused.headers["warning"]
    assert site.instances(theirs[0].StudyInstanceUID) == 0
    taken = site.stow(body(*(part(part10(ds)) for ds in mine)), path)
    assert taken.status_code == 200 and len(sequence(taken, "00081199")) == 2
    assert site.audit_lines()[-1]["study_in_path"] is True


@pytest.mark.parametrize(("headers", "content", "status", "says"), [
    ({"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, b"", 415,
     "multipart/related"),
    ({"Content-Type": f'multipart/related; type="application/dicom+xml"; boundary={BOUNDARY}'},
     b"", 415, "only application/dicom parts"),
    ({"Content-Type": 'multipart/related; type="application/dicom"'}, b"", 400, "no boundary"),
    ({"Accept": "application/dicom+xml"}, b"", 406, "application/dicom+json"),
    ({}, f"--{BOUNDARY}--\r\n".encode(), 400, "no DICOM instance"),
    ({}, b"garbage without a boundary", 400, "malformed"),
    ({}, f"--{BOUNDARY}\r\nContent-Type application/dicom\r\n\r\nx".encode(), 400, "malformed"),
])
def test_a_request_that_is_not_stow_is_refused_whole(site: Site, headers: dict[str, str],
                                                     content: bytes, status: int,
                                                     says: str) -> None:
    reply = site.stow(content, **headers)
    assert reply.status_code == status, reply.text
    assert says in reply.json()["error"]["message"]
    assert site.audit_lines()[-1]["status"] == "rejected"


def test_a_bad_study_uid_in_the_path_is_the_edge_s_400(site: Site) -> None:
    reply = site.stow(body(part(part10(series(1)[0]))), "/dicom-web/studies/1.02.3")
    assert reply.status_code == 400
    assert reply.json()["error"]["field_violations"][0]["field"] == "study_instance_uid"


def test_a_body_over_the_limit_is_read_no_further(site: Site) -> None:
    datasets = series(150, seed=6)   # about 8.6 KB each: 1.3 MB against a 1 MB limit
    declared = body(*(part(part10(ds)) for ds in datasets))
    assert len(declared) > MAX_BODY
    whole = site.stow(declared)
    assert whole.status_code == 413 and "MAX_STOW_BYTES" in whole.json()["error"]["message"]
    assert site.instances(datasets[0].StudyInstanceUID) == 0

    def chunks() -> Iterator[bytes]:   # no Content-Length: the limit is found while reading
        for ds in datasets:
            yield part(part10(ds))
        yield f"--{BOUNDARY}--\r\n".encode()

    streamed = site.stow(chunks())
    assert streamed.status_code == 202, streamed.text
    stored = len(sequence(streamed, "00081199"))
    assert 50 < stored < 150
    assert "the rest of the body was not read" in streamed.headers["warning"]
    assert site.instances(datasets[0].StudyInstanceUID) == stored


def test_the_grpc_twin_stores_one_instance(site: Site) -> None:
    assert site.gateway is not None
    ds = series(1, seed=7)[0]
    with grpc.insecure_channel(site.gateway.address) as channel:
        stub = studies_pb2_grpc.StudiesStub(channel)  # type: ignore[no-untyped-call]
        result = stub.StoreInstance(studies_pb2.StoreInstanceRequest(
            dicom=part10(ds), study_instance_uid=ds.StudyInstanceUID), timeout=30)
        assert result.stored and result.sop_instance_uid == ds.SOPInstanceUID
        other = stub.StoreInstance(studies_pb2.StoreInstanceRequest(
            dicom=part10(ds), study_instance_uid="1.2.3"), timeout=30)
        assert not other.stored and other.failure_reason == 0xA900
        with pytest.raises(grpc.RpcError) as empty:
            stub.StoreInstance(studies_pb2.StoreInstanceRequest(), timeout=30)
        assert empty.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert site.instances(ds.StudyInstanceUID) == 1
    lines = site.audit_lines()[-3:]
    assert [(a["api"], a["status"]) for a in lines] == [
        ("grpc", "ok"), ("grpc", "refused"), ("grpc", "rejected")]
