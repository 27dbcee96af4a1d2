"""The listener's parts on their own: configuration, the spool's keys and durable writes, the
database's migrations and life of a study, the export outcomes (against real sockets)."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from cervixai.processes import free_port
from listener.config import Caller, Destination, ListenerConfig
from listener.export import Outcome, classify_status, send_c_store, send_stow
from listener.spool import Spool
from listener.store import MIGRATIONS, ExportState, Record, State, Store, StoreError
from listener.worker import Worker, backoff


def config(tmp_path: Path, **env: str) -> ListenerConfig:
    return ListenerConfig.from_env({"CERVIXAI_LISTENER_SPOOL": str(tmp_path / "spool"),
                                    **{f"CERVIXAI_LISTENER_{k}": v for k, v in env.items()}})


def test_configuration_reads_the_allow_list_and_refuses_what_is_not_dicom(tmp_path: Path) -> None:
    c = config(tmp_path, ALLOWED_CALLERS="MODALITY1, PACS@10.1.0.0/16,HIS@127.0.0.1",
               DESTINATION="ORTHANC@pacs.example:4242", QUIET_SECONDS="2.5")
    assert c.quiet_seconds == 2.5 and c.server.port == 50054 and c.dicom_port == 11112
    assert c.destination == Destination("ORTHANC", "pacs.example", 4242)
    modality, pacs, his = c.allowed_callers
    assert modality.admits("MODALITY1 ", "192.0.2.7")
    assert pacs.admits("PACS", "10.1.200.3") and not pacs.admits("PACS", "10.2.0.1")
    assert not his.admits("HIS", "127.0.0.2") and not his.admits("MODALITY1", "127.0.0.1")
    assert Caller.parse("*@127.0.0.1").admits("ANY", "127.0.0.1")
    assert not Caller.parse("*@127.0.0.1").admits("ANY", "127.0.0.2")
    assert Caller("PACS").admits("PACS", "not an address")   # no network: any address
    assert not Caller("PACS", pacs.network).admits("PACS", "not an address")
    for env, message in [({"ALLOWED_CALLERS": "WAY_TOO_LONG_AE_TITLE"}, "not an AE title"),
                         ({"ALLOWED_CALLERS": "PACS@10.0.0.0/33"}, "not an address"),
                         ({"DESTINATION": "ORTHANC@host"}, "AET@host:port"),
                         ({"AE_TITLE": "BACK\\SLASH"}, "not an AE title"),
                         ({"EXPIRE_SECONDS": "1", "QUIET_SECONDS": "5"}, "EXPIRE_SECONDS"),
                         ({"STOW_URL": "ftp://x"}, "STOW_URL"),
                         ({"EXPORT_ATTEMPTS": "many"}, "must be an integer")]:
        with pytest.raises(ValueError, match=message):
            config(tmp_path, **env)
    with pytest.raises(ValueError, match="SPOOL is not set"):
        ListenerConfig.from_env({})


def test_the_spool_names_nothing_by_its_uid_and_keeps_its_secret(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    uid = "1.2.826.0.1.3680043.8.498.12345"
    key = spool.keys.key("study", uid)
    assert uid not in key and len(key) == 32
    assert Spool(tmp_path / "spool").keys.key("study", uid) == key       # stable across restarts
    assert Spool(tmp_path / "other").keys.key("study", uid) != key       # not across sites
    assert spool.keys.key("accession", uid) != key
    assert (tmp_path / "spool" / "spool.key").stat().st_mode & 0o777 == 0o600
    assert spool.writable()


def test_the_database_migrates_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    assert store.version == len(MIGRATIONS)
    store.close()
    db = sqlite3.connect(tmp_path / "db")
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer listener"):
        Store(tmp_path / "db")


def test_a_study_meets_its_record_after_the_quiet_period_and_a_resend_starts_again(
        tmp_path: Path) -> None:
    c = config(tmp_path, QUIET_SECONDS="10")
    spool = Spool(c.spool)
    store = Store(c.database)
    now = [1000.0]
    worker = Worker(c, spool, store, clock=lambda: now[0])
    for i in range(3):
        store.add_instance("s1", "a1", "series-1" if i < 2 else "series-2", f"i{i}", 100,
                           now=now[0])
    store.add_instance("s1", "a1", "series-1", "i0", 150, now=now[0])   # the same one again
    worker._gather(now[0])
    study = store.study("s1")
    assert study is not None and (study.state, study.instances, study.series, study.bytes) == (
        State.RECEIVING, 3, 2, 350)
    now[0] += 11
    worker._gather(now[0])
    assert store.study("s1").state is State.AWAITING_CLINICAL   # type: ignore[union-attr]
    store.put_record(Record("accession", "a1", 2, b"", now[0]))
    worker._gather(now[0])
    study = store.study("s1")
    assert study is not None and study.state is State.ASSESSING and study.clinical_received
    assert store.record_of(study) is not None
    store.set_state("s1", State.DONE)
    assert store.add_instance("s1", "a1", "series-1", "i9", 100, now=now[0]) is State.RECEIVING
    assert store.study("s1").instances == 1   # type: ignore[union-attr]


def test_studies_and_records_that_never_meet_expire_and_leave_nothing(tmp_path: Path) -> None:
    c = config(tmp_path, QUIET_SECONDS="1", EXPIRE_SECONDS="100", STATUS_RETENTION_SECONDS="50")
    spool, store = Spool(c.spool), Store(c.database)
    now = [1000.0]
    worker = Worker(c, spool, store, clock=lambda: now[0])
    path = spool.instance_path("s1", "i0")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    store.add_instance("s1", None, "series", "i0", 1, now=now[0])
    store.put_record(Record("study", "other", 1, b"", now[0]))
    now[0] += 101
    worker._expire(now[0])
    assert store.study("s1").state is State.EXPIRED   # type: ignore[union-attr]
    assert not path.exists() and store.record("study", "other") is None
    now[0] += 51
    worker._expire(now[0])
    assert store.study("s1") is None


def result_file(tmp_path: Path) -> Path:
    ds = pydicom.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp_path / "seg.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_c_store_and_stow_outcomes_against_real_sockets(tmp_path: Path) -> None:
    assert classify_status(0x0000) is Outcome.SENT and classify_status(0xB000) is Outcome.SENT
    assert classify_status(0xA700) is Outcome.TRANSIENT
    for code in (0xA900, 0xC000, 0x0122, 0x0124):
        assert classify_status(code) is Outcome.PERMANENT
    path = result_file(tmp_path)
    attempt = send_c_store(path, Destination("PACS", "127.0.0.1", free_port()), "CERVIXAI", 2)
    assert attempt.outcome is Outcome.TRANSIENT and attempt.status.startswith("no association")
    attempt = send_stow(path, f"http://127.0.0.1:{free_port()}/dicom-web", None, 2)
    assert attempt.outcome is Outcome.TRANSIENT and attempt.status == "ConnectError"


def test_exports_to_an_unreachable_destination_give_up_after_the_attempts(tmp_path: Path) -> None:
    c = config(tmp_path, DESTINATION=f"PACS@127.0.0.1:{free_port()}", EXPORT_ATTEMPTS="3",
               EXPORT_BACKOFF_SECONDS="10", NETWORK_TIMEOUT_SECONDS="2")
    assert [backoff(c, n) for n in (1, 2, 3)] == [10, 20, 40]
    spool, store = Spool(c.spool), Store(c.database)
    now = [1000.0]
    worker = Worker(c, spool, store, clock=lambda: now[0])
    store.add_instance("s1", None, "series", "i0", 1, now=now[0])
    store.set_state("s1", State.EXPORTING)
    spool.result_path("s1", "dicom-seg").parent.mkdir(parents=True)
    spool.result_path("s1", "dicom-seg").write_bytes(result_file(tmp_path).read_bytes())
    store.add_exports("s1", ["dicom-seg"], c.destinations)
    seen = []
    for _ in range(3):
        for export in store.exports(due_before=now[0]):
            worker._export(export)
        worker._finish_exports()
        (export,) = store.exports("s1")
        seen.append((export.state, export.attempts, max(0.0, export.next_attempt_at - now[0])))
        now[0] += 100
    assert seen == [(ExportState.PENDING, 1, 10.0), (ExportState.PENDING, 2, 20.0),
                    (ExportState.GAVE_UP, 3, 0.0)]
    study = store.study("s1")
    assert study is not None and study.state is State.FAILED and "gave_up" in study.error
    assert not spool.result_path("s1", "dicom-seg").exists()


def test_a_destination_that_does_not_resolve_is_retried(tmp_path: Path) -> None:
    c = config(tmp_path, DESTINATION="PACS@pacs.does-not-resolve.invalid:104",
               NETWORK_TIMEOUT_SECONDS="2")
    spool, store = Spool(c.spool), Store(c.database)
    worker = Worker(c, spool, store)
    store.add_instance("s1", None, "series", "i0", 1)
    store.set_state("s1", State.EXPORTING)
    spool.result_path("s1", "dicom-sr").parent.mkdir(parents=True)
    spool.result_path("s1", "dicom-sr").write_bytes(result_file(tmp_path).read_bytes())
    store.add_exports("s1", ["dicom-sr"], c.destinations)
    (export,) = store.exports("s1")
    worker._export(export)
    (export,) = store.exports("s1")
    assert export.state is ExportState.PENDING and export.attempts == 1, export


def test_the_scp_answers_failure_statuses_and_stores_what_it_acknowledges(tmp_path: Path
                                                                          ) -> None:
    """The real SCP on a loopback port, pynetdicom as the sender: success only once the file
    and its row are there; 0xA900 for an instance without a Study Instance UID; 0xA700 once
    the study would pass its byte limit (the sender may retry later)."""
    import numpy as np
    from prometheus_client import REGISTRY
    from pynetdicom import AE

    from cervixai.dicom.writer import series_datasets
    from listener.intake import Intake
    from listener.scp import StoreSCP

    c = config(tmp_path, ALLOWED_CALLERS="TEST@127.0.0.1", DICOM_PORT=str(free_port()),
               MAX_STUDY_BYTES="60000")
    spool, store = Spool(c.spool), Store(c.database)
    scp = StoreSCP(c, Intake(c, spool, store))
    scp.start()
    try:
        datasets = series_datasets(np.random.default_rng(0).uniform(0, 100, (4, 128, 128)))
        ae = AE(ae_title="TEST")
        ae.add_requested_context(datasets[0].SOPClassUID,
                                 datasets[0].file_meta.TransferSyntaxUID)
        def count(outcome: str) -> float:
            return REGISTRY.get_sample_value("cervixai_listener_associations_total",
                                             {"outcome": outcome}) or 0.0

        rejected = count("rejected")
        wrong = ae.associate("127.0.0.1", scp.port, ae_title="NOTCERVIXAI")
        assert wrong.is_rejected and count("rejected") == rejected + 1
        assoc = ae.associate("127.0.0.1", scp.port, ae_title="CERVIXAI")
        assert assoc.is_established
        no_study = copy.deepcopy(datasets[0])
        del no_study.StudyInstanceUID
        statuses = [int(assoc.send_c_store(ds).Status) for ds in (no_study, *datasets)]
        assoc.release()
    finally:
        scp.stop()
    assert statuses[0] == 0xA900
    stored = statuses[1:].count(0x0000)
    assert 1 <= stored < 4 and set(statuses[1 + stored:]) == {0xA700}, statuses
    key = spool.keys.key("study", datasets[0].StudyInstanceUID)
    study = store.study(key)
    assert study is not None and study.instances == stored
    assert len(list((c.spool / "studies" / key).glob("*.dcm"))) == stored
    assert not list(c.spool.rglob(f"*{datasets[0].SOPInstanceUID}*"))


def test_dicom_over_tls_in_and_out(tmp_path: Path, certificates: Any) -> None:
    """The SCP over TLS with client certificates required (PS3.15 Annex B): a caller with a
    certificate of the CA echoes, one without gets no association; the C-STORE SCU sends a
    result over TLS to a TLS storage SCP, verifying it."""
    import ssl

    from pynetdicom import AE, evt

    from cervixai.service.tls import client_ssl_context, server_ssl_context
    from listener.intake import Intake
    from listener.scp import StoreSCP

    c = certificates
    ca = c.ca("hospital CA")
    ca_file = c.write(tmp_path / "ca.pem", c.pem(ca[1]))
    files = {}
    for name, server in (("listener", True), ("modality", False), ("pacs", True)):
        cert, key = c.issue(ca, name, server=server)
        files[name] = (str(c.write(tmp_path / f"{name}.crt", cert)),
                       str(c.write(tmp_path / f"{name}.key", key)))
    listener = config(tmp_path, ALLOWED_CALLERS="MODALITY@127.0.0.1",
                      DICOM_PORT=str(free_port()), DICOM_TLS_CERT=files["listener"][0],
                      DICOM_TLS_KEY=files["listener"][1], DICOM_TLS_CLIENT_CA=str(ca_file))
    scp = StoreSCP(listener, Intake(listener, Spool(listener.spool), Store(listener.database)))
    scp.start()
    try:
        def echo(context: ssl.SSLContext) -> bool:
            ae = AE(ae_title="MODALITY")
            ae.add_requested_context("1.2.840.10008.1.1")
            assoc = ae.associate("127.0.0.1", scp.port, ae_title="CERVIXAI",
                                 tls_args=(context, "localhost"))
            ok = assoc.is_established and int(assoc.send_c_echo().Status) == 0
            if assoc.is_established:
                assoc.release()
            return bool(ok)

        assert echo(client_ssl_context(str(ca_file), *files["modality"]))
        assert not echo(client_ssl_context(str(ca_file)))      # no client certificate
    finally:
        scp.stop()
    # out: the exporter to a storage SCP that serves TLS
    received = []
    pacs = AE(ae_title="PACS")
    pacs.add_supported_context("1.2.840.10008.5.1.4.1.1.66.4")
    port = free_port()
    server = pacs.start_server(
        ("127.0.0.1", port), block=False,
        ssl_context=server_ssl_context(*files["pacs"], client_ca=str(ca_file)),
        evt_handlers=[(evt.EVT_C_STORE, lambda e: received.append(e.dataset) or 0x0000)])
    try:
        destination = Destination("PACS", "localhost", port)
        tls = client_ssl_context(str(ca_file), *files["listener"])
        attempt = send_c_store(result_file(tmp_path), destination, "CERVIXAI", 5, tls)
        assert attempt.outcome is Outcome.SENT and len(received) == 1
        plaintext = send_c_store(result_file(tmp_path), destination, "CERVIXAI", 5)
        assert plaintext.outcome is Outcome.TRANSIENT and len(received) == 1
    finally:
        server.shutdown()


def test_an_instance_from_stow_rs_is_checked_as_no_association_checked_it(tmp_path: Path) -> None:
    """``Studies/StoreInstance`` (what the gateway's STOW-RS endpoint calls) has no presentation
    context: the SOP class and the transfer syntax are checked on the instance itself, and an
    instance of another study than the request's is refused; the refusals are answers with the
    PS3.18 failure reason, the stored instance is on disk and in the database."""
    import io

    import numpy as np
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    from cervix.v1 import studies_pb2
    from cervixai.dicom.writer import series_datasets
    from listener.intake import Intake
    from listener.studies import StudiesServicer

    def part10(ds: pydicom.Dataset) -> bytes:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()

    c = config(tmp_path)
    spool, store = Spool(c.spool), Store(c.database)
    servicer = StudiesServicer(store, spool.keys, Intake(c, spool, store))
    first, second = series_datasets(np.random.default_rng(1).uniform(0, 100, (2, 64, 64)))

    def store_one(dicom: bytes, study: str = "") -> studies_pb2.StoreInstanceResult:
        return servicer.StoreInstance(studies_pb2.StoreInstanceRequest(
            dicom=dicom, study_instance_uid=study), None)  # type: ignore[arg-type]

    ct = copy.deepcopy(first)
    ct.SOPClassUID = ct.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    lossy = copy.deepcopy(first)   # a JPEG Baseline frame (the header is all that is read)
    lossy.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    lossy.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    answers = {
        "not dicom": store_one(b"\0" * 200),
        "ct": store_one(part10(ct)),
        "lossy": store_one(part10(lossy)),
        "other study": store_one(part10(first), study="1.2.3.4"),
        "stored": store_one(part10(first), study=str(first.StudyInstanceUID)),
        "stored, no study named": store_one(part10(second)),
    }
    reasons = {name: (a.stored, a.failure_reason) for name, a in answers.items()}
    assert reasons == {"not dicom": (False, 0xC000), "ct": (False, 0x0122),
                       "lossy": (False, 0xC122), "other study": (False, 0xA900),
                       "stored": (True, 0), "stored, no study named": (True, 0)}, reasons
    assert answers["other study"].sop_instance_uid == first.SOPInstanceUID
    assert "another study" in answers["other study"].error
    key = spool.keys.key("study", first.StudyInstanceUID)
    study = store.study(key)
    assert study is not None and study.instances == 2
    assert len(list((c.spool / "studies" / key).glob("*.dcm"))) == 2
