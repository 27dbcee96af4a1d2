"""In and out of a real PACS: Debian's Orthanc, dcmtk's storescu/echoscu, the DICOM listener and
a gateway that forwards the HIS's clinical records to it, all real processes on loopback.

The life of a study: its instances arrive by C-STORE (pushed by Orthanc, or by storescu in a
compressed transfer syntax), its clinical record by ``PUT`` on the gateway (before or after the
images, by StudyInstanceUID or AccessionNumber); after the quiet period the assessment runs and
Orthanc then holds the SEG and SR in the source study. The same when Orthanc sends the study by
STOW-RS to the gateway's DICOMweb endpoint. Also: a caller off the allow-list is
refused; a listener killed with SIGKILL loses no acknowledged instance; exports are retried while
Orthanc is down and succeed when it is back; a permanent rejection is not retried.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import highdicom as hd
import httpx
import pydicom
import pytest

from cervix.v1 import common_pb2, studies_pb2, studies_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from cervixai.cohort import format as cf
from cervixai.processes import ServiceProcess, free_port
from cervixai.service.components import GATEWAY, LISTENER

pytestmark = pytest.mark.skipif(
    shutil.which("Orthanc") is None or shutil.which("storescu") is None
    or not Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so").is_file(),
    reason="needs Debian's orthanc, orthanc-dicomweb and dcmtk packages (.ci/run installs them)")

QUIET_SECONDS = 2
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


class Orthanc:
    """Orthanc as a plain process with a generated configuration (no system service)."""

    def __init__(self, root: Path, listener_dicom_port: int) -> None:
        self.root = root
        self.http_port, self.dicom_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "orthanc.json"
        self.config.write_text(json.dumps({
            "Name": "cervixai-test", "HttpPort": self.http_port, "DicomPort": self.dicom_port,
            "DicomAet": "ORTHANC", "DicomCheckCalledAet": True,
            "StorageDirectory": str(root / "db"), "IndexDirectory": str(root / "db"),
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "Plugins": [DICOMWEB_PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "DicomModalities": {"cervixai": ["CERVIXAI", "127.0.0.1", listener_dicom_port]}}))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.root / "orthanc.log").open("ab")
        self.process = subprocess.Popen(["Orthanc", str(self.config)], stdout=log,
                                        stderr=subprocess.STDOUT)
        wait_for(lambda: self._answers(), 30, "Orthanc's REST API")
        # its DICOM port may open after its REST API: a C-ECHO answered is the sign
        wait_for(lambda: subprocess.run(
            ["echoscu", "-aec", "ORTHANC", "127.0.0.1", str(self.dicom_port)],
            capture_output=True, timeout=30).returncode == 0, 30, "Orthanc's DICOM port")

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/system", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None

    def get(self, path: str) -> Any:
        reply = httpx.get(f"{self.url}{path}", timeout=30)
        reply.raise_for_status()
        return reply.json() if "json" in reply.headers.get("content-type", "") else reply.content

    def study_id(self, study_uid: str) -> str | None:
        found = httpx.post(f"{self.url}/tools/lookup", content=study_uid, timeout=10).json()
        return next((f["ID"] for f in found if f["Type"] == "Study"), None)


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not reached within {seconds:.0f} s")


@dataclass
class Patient:
    files: list[Path]
    record: dict[str, object]
    study_uid: str
    accession: str
    patient_id: str
    series_uid: str


@dataclass
class Site:
    orthanc: Orthanc
    listener_env: dict[str, str]
    listener: ServiceProcess
    gateway_url: str
    patients: list[Patient]
    logs: Path

    @property
    def dicom_port(self) -> int:
        return int(self.listener_env["CERVIXAI_LISTENER_DICOM_PORT"])

    def start_listener(self) -> ServiceProcess:
        self.listener = ServiceProcess(LISTENER.module, int(self.listener_env[
            "CERVIXAI_LISTENER_PORT"]), self.listener_env,
            self.logs / f"listener-{time.monotonic_ns()}.log")
        self.listener.wait_serving(LISTENER.service, timeout=60)
        return self.listener

    def status(self, patient: Patient, by_accession: bool = False) -> dict[str, Any]:
        path = (f"accessions/{patient.accession}" if by_accession
                else f"studies/{patient.study_uid}")
        reply = httpx.get(f"{self.gateway_url}v1/{path}", timeout=10)
        assert reply.status_code in (200, 404), reply.text
        return reply.json() if reply.status_code == 200 else {"state": "unknown"}

    def put_clinical(self, patient: Patient, by_accession: bool = False) -> dict[str, Any]:
        path = (f"accessions/{patient.accession}" if by_accession
                else f"studies/{patient.study_uid}")
        reply = httpx.put(f"{self.gateway_url}v1/{path}/clinical", timeout=10,
                          json={"stage": "postoperative", "clinical": patient.record})
        assert reply.status_code == 202, reply.text
        return dict(reply.json())

    def wait_until(self, patient: Patient, test: Callable[[dict[str, Any]], bool],
                   seconds: float, what: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status(patient)
            return status if test(status) else None
        return dict(wait_for(check, seconds, what))

    def wait_state(self, patient: Patient, *states: str, seconds: float = 120) -> dict[str, Any]:
        return self.wait_until(patient, lambda s: state_of(s) in states, seconds,
                               f"study state in {states}")


def state_of(status: dict[str, Any]) -> str:
    return str(status.get("state", "")).lower().removeprefix("study_state_")


def export_states(status: dict[str, Any]) -> list[str]:
    return [str(e["state"]).lower().removeprefix("export_state_")
            for e in status.get("exports", [])]


def storescu(port: int, files: list[Path], *options: str, aet: str = "STORESCU",
             aec: str = "CERVIXAI") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["storescu", "-aet", aet, "-aec", aec, *options, "127.0.0.1",
                           str(port), *map(str, files)], capture_output=True, text=True,
                          timeout=120)


def patients(cohort: Path, count: int) -> list[Patient]:
    _, rows = cf.read_csv(cohort / cf.CLINICAL_CSV)
    out = []
    for row in rows[:count]:
        files = sorted((cohort / cf.IMAGES_DIR / row["patient_id"]).glob("*.dcm"))
        header = pydicom.dcmread(files[0], stop_before_pixels=True)
        out.append(Patient(files, cf.record_of(row, Stage.POSTOPERATIVE),
                           header.StudyInstanceUID, header.AccessionNumber, header.PatientID,
                           header.SeriesInstanceUID))
    return out


@pytest.fixture(scope="module")
def site(system: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("pacs")
    dicom_port = free_port()
    orthanc = Orthanc(root / "orthanc", dicom_port)
    orthanc.start()
    listener_env = {**os.environ,
                    "CERVIXAI_LISTENER_SPOOL": str(root / "spool"),
                    "CERVIXAI_LISTENER_HOST": "127.0.0.1",
                    "CERVIXAI_LISTENER_PORT": str(free_port()),
                    "CERVIXAI_LISTENER_METRICS_PORT": str(free_port()),
                    "CERVIXAI_LISTENER_DICOM_PORT": str(dicom_port),
                    "CERVIXAI_LISTENER_ALLOWED_CALLERS": "STORESCU@127.0.0.1,ORTHANC@127.0.0.1",
                    "CERVIXAI_LISTENER_GATEWAY_ADDRESS": system.grpc_address,
                    "CERVIXAI_LISTENER_DESTINATION": f"ORTHANC@127.0.0.1:{orthanc.dicom_port}",
                    "CERVIXAI_LISTENER_QUIET_SECONDS": str(QUIET_SECONDS),
                    "CERVIXAI_LISTENER_EXPORT_BACKOFF_SECONDS": "1",
                    "CERVIXAI_LISTENER_EXPORT_ATTEMPTS": "10"}
    gateway_env = {**system.env, "CERVIXAI_GATEWAY_PORT": str(free_port()),
                   "CERVIXAI_GATEWAY_HTTP_PORT": str(free_port()),
                   LISTENER.address_variable:
                   f"127.0.0.1:{listener_env['CERVIXAI_LISTENER_PORT']}"}
    gateway = ServiceProcess(GATEWAY.module, int(gateway_env["CERVIXAI_GATEWAY_PORT"]),
                             gateway_env, root / "gateway.log")
    made = Site(orthanc, listener_env, None, "", patients(system.cohort, 8), root)  # type: ignore[arg-type]
    try:
        made.start_listener()
        gateway.wait_serving(GATEWAY.service, timeout=60)
        made.gateway_url = gateway.wait_http(int(gateway_env["CERVIXAI_GATEWAY_HTTP_PORT"]))
        yield made
    finally:
        gateway.stop()
        made.listener.stop()
        orthanc.stop()


def results_in_orthanc(site: Site, patient: Patient) -> dict[str, pydicom.Dataset]:
    """The SEG and SR Orthanc holds in the patient's study, read back as files."""
    study = site.orthanc.study_id(patient.study_uid)
    assert study is not None, "the study is not in Orthanc"
    found = {}
    for series in site.orthanc.get(f"/studies/{study}/series"):
        modality = series["MainDicomTags"].get("Modality")
        if modality in ("SEG", "SR"):
            (instance,) = series["Instances"]
            found[modality] = pydicom.dcmread(
                io.BytesIO(site.orthanc.get(f"/instances/{instance}/file")))
    return found


def check_results(site: Site, patient: Patient) -> None:
    found = results_in_orthanc(site, patient)
    assert set(found) == {"SEG", "SR"}
    seg = hd.seg.Segmentation.from_dataset(found["SEG"])
    assert seg.StudyInstanceUID == patient.study_uid and seg.PatientID == patient.patient_id
    assert [s.SeriesInstanceUID for s in seg.ReferencedSeriesSequence] == [patient.series_uid]
    referenced = {i.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence
                  for i in s.ReferencedInstanceSequence}
    assert len(referenced) == len(patient.files)
    sr = found["SR"]
    assert sr.StudyInstanceUID == patient.study_uid
    evidence = {i.ReferencedSOPInstanceUID for study in sr.CurrentRequestedProcedureEvidenceSequence
                for series in study.ReferencedSeriesSequence
                for i in series.ReferencedSOPSequence}
    assert seg.SOPInstanceUID in evidence


def test_studies_pushed_by_the_pacs_come_back_as_seg_and_sr(site: Site, tmp_path: Path) -> None:
    first, second = site.patients[:2]
    # 1: the PACS holds the study; the record comes first, then Orthanc pushes the study
    assert storescu(site.orthanc.dicom_port, first.files, aet="MODALITY",
                    aec="ORTHANC").returncode == 0
    assert state_of(site.put_clinical(first)) == "awaiting_images"
    orthanc_study = site.orthanc.study_id(first.study_uid)
    pushed = httpx.post(f"{site.orthanc.url}/modalities/cervixai/store", content=orthanc_study,
                        timeout=120)
    assert pushed.status_code == 200, pushed.text
    # 2: images first, JPEG-LS lossless from storescu; the record after, by accession number
    compressed = []
    for f in second.files:
        out = tmp_path / f.name
        subprocess.run(["dcmcjpls", str(f), str(out)], check=True, timeout=60)
        compressed.append(out)
    sent = storescu(site.dicom_port, compressed, "-xt")
    assert sent.returncode == 0, sent.stderr
    waiting = site.wait_state(second, "awaiting_clinical", seconds=30)
    assert int(waiting["instances"]) == len(second.files)
    site.put_clinical(second, by_accession=True)
    for patient in (first, second):
        done = site.wait_state(patient, "done", "failed")
        assert state_of(done) == "done", done
        assert export_states(done) == ["sent", "sent"] and done["request_id"]
        check_results(site, patient)
    assert state_of(site.status(second, by_accession=True)) == "done"
    # nothing identifying stays on the listener's disk once a study is done
    spool = Path(site.listener_env["CERVIXAI_LISTENER_SPOOL"])
    assert not list(spool.rglob("*.dcm"))
    stored = b"".join(p.read_bytes() for p in spool.glob("listener.db*"))
    for patient in (first, second):
        for value in (patient.study_uid, patient.accession, patient.patient_id):
            assert value.encode() not in stored
    log = b"".join(p.read_bytes() for p in site.logs.glob("listener-*.log"))
    assert first.study_uid.encode() not in log and first.patient_id.encode() not in log


def test_a_caller_off_the_allow_list_is_refused(site: Site) -> None:
    ok = subprocess.run(["echoscu", "-aet", "STORESCU", "-aec", "CERVIXAI", "127.0.0.1",
                         str(site.dicom_port)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    refused = storescu(site.dicom_port, site.patients[5].files[:1], aet="INTRUDER")
    assert refused.returncode != 0
    assert "Calling AE Title Not Recognized" in refused.stderr + refused.stdout
    metrics = httpx.get(f"http://127.0.0.1:{site.listener_env['CERVIXAI_LISTENER_METRICS_PORT']}"
                        f"/metrics", timeout=10).text
    assert 'cervixai_listener_associations_total{outcome="rejected_caller"} 1.0' in metrics


def test_a_killed_listener_loses_no_acknowledged_instance(site: Site) -> None:
    patient = site.patients[2]
    half = len(patient.files) // 2
    assert storescu(site.dicom_port, patient.files[:half]).returncode == 0
    site.listener.process.kill()   # SIGKILL: no drain, no cleanup
    site.listener.process.wait(10)
    site.start_listener()
    assert int(site.status(patient)["instances"]) == half
    assert storescu(site.dicom_port, patient.files[half:]).returncode == 0
    site.put_clinical(patient)
    done = site.wait_state(patient, "done", "failed")
    assert state_of(done) == "done" and int(done["instances"]) == len(patient.files)
    check_results(site, patient)


def second_listener(site: Site, name: str, **env: str) -> tuple[ServiceProcess, int]:
    """Another listener on the same gateway with its own spool and ports; its DICOM port."""
    dicom_port = free_port()
    environment = {**site.listener_env, "CERVIXAI_LISTENER_SPOOL": str(site.logs / f"spool-{name}"),
                   "CERVIXAI_LISTENER_PORT": str(free_port()),
                   "CERVIXAI_LISTENER_METRICS_PORT": "0",
                   "CERVIXAI_LISTENER_DICOM_PORT": str(dicom_port),
                   **{f"CERVIXAI_LISTENER_{k}": v for k, v in env.items()}}
    process = ServiceProcess(LISTENER.module, int(environment["CERVIXAI_LISTENER_PORT"]),
                             environment, site.logs / f"listener-{name}.log")
    process.wait_serving(LISTENER.service, timeout=60)
    return process, dicom_port


def put_clinical_direct(stub: Any, patient: Patient) -> studies_pb2.StudyRef:
    ref = studies_pb2.StudyRef(study_instance_uid=patient.study_uid)
    stub.PutClinical(studies_pb2.PutClinicalRequest(
        study=ref, stage=common_pb2.STAGE_POSTOPERATIVE, clinical=record_to_proto(
            validate_record(patient.record, Stage.POSTOPERATIVE))), timeout=10)
    return ref


def test_results_by_stow_rs(site: Site) -> None:
    patient = site.patients[6]
    process, dicom_port = second_listener(site, "stow", DESTINATION="",
                                          STOW_URL=f"{site.orthanc.url}/dicom-web")
    try:
        assert storescu(dicom_port, patient.files).returncode == 0
        with grpc.insecure_channel(process.address) as channel:
            stub = studies_pb2_grpc.StudiesStub(channel)  # type: ignore[no-untyped-call]
            ref = put_clinical_direct(stub, patient)
            wait_for(lambda: stub.GetStudy(ref, timeout=10).state in (
                studies_pb2.STUDY_STATE_DONE, studies_pb2.STUDY_STATE_FAILED), 120, "done")
            status = stub.GetStudy(ref, timeout=10)
        assert status.state == studies_pb2.STUDY_STATE_DONE, status
        assert [(e.state, e.last_status) for e in status.exports] == [
            (studies_pb2.EXPORT_STATE_SENT, "HTTP 200")] * 2
        check_results(site, patient)
    finally:
        process.stop()


def test_a_study_sent_by_stow_rs_comes_back_as_seg_and_sr(site: Site) -> None:
    """Orthanc's DICOMweb client sends the study to the gateway's STOW-RS endpoint (the
    gateway as one of its DICOMweb servers); the listener takes it as it takes a C-STORE."""
    patient = site.patients[7]
    assert storescu(site.orthanc.dicom_port, patient.files, aet="MODALITY",
                    aec="ORTHANC").returncode == 0
    registered = httpx.put(f"{site.orthanc.url}/dicom-web/servers/cervixai", timeout=10,
                           json={"Url": f"{site.gateway_url}dicom-web/"})
    assert registered.status_code == 200, registered.text
    sent = httpx.post(f"{site.orthanc.url}/dicom-web/servers/cervixai/stow", timeout=120,
                      json={"Resources": [site.orthanc.study_id(patient.study_uid)]})
    assert sent.status_code == 200, sent.text
    assert int(site.status(patient)["instances"]) == len(patient.files)
    site.put_clinical(patient)
    done = site.wait_state(patient, "done", "failed")
    assert state_of(done) == "done" and export_states(done) == ["sent", "sent"], done
    check_results(site, patient)


def test_exports_wait_for_the_pacs_and_a_rejection_is_not_retried(site: Site) -> None:
    patient = site.patients[3]
    site.orthanc.stop()
    try:
        assert storescu(site.dicom_port, patient.files).returncode == 0
        site.put_clinical(patient)
        retrying = site.wait_until(patient, lambda s: state_of(s) == "exporting" and min(
            e["attempts"] for e in s["exports"]) >= 2, 120, "two failed export attempts")
        assert export_states(retrying) == ["pending", "pending"]
    finally:
        site.orthanc.start()
    done = site.wait_state(patient, "done", "failed", seconds=60)
    assert state_of(done) == "done" and export_states(done) == ["sent", "sent"], done
    check_results(site, patient)
    # a destination that refuses the association permanently (Orthanc checks the called AE
    # title): rejected and never tried again (one attempt each, or two where the first met a
    # transient failure on a loaded machine), the study failed, the reason in its status
    rejected = site.patients[4]
    second, dicom_port = second_listener(
        site, "rejected", DESTINATION=f"NOTORTHANC@127.0.0.1:{site.orthanc.dicom_port}")
    try:
        assert storescu(dicom_port, rejected.files).returncode == 0
        with grpc.insecure_channel(second.address) as channel:
            stub = studies_pb2_grpc.StudiesStub(channel)  # type: ignore[no-untyped-call]
            ref = put_clinical_direct(stub, rejected)
            def ended() -> Any:
                status = stub.GetStudy(ref, timeout=10)
                return status if status.state == studies_pb2.STUDY_STATE_FAILED and all(
                    e.state != studies_pb2.EXPORT_STATE_PENDING for e in status.exports) else None

            failed = wait_for(ended, 120, "the rejection of both exports")
            time.sleep(3)   # the backoff (1 s, doubling) would have retried by now
            again = stub.GetStudy(ref, timeout=10)
        assert [e.state for e in again.exports] == [studies_pb2.EXPORT_STATE_REJECTED] * 2
        assert [e.attempts for e in again.exports] == [e.attempts for e in failed.exports]
        assert all(1 <= e.attempts <= 2 for e in again.exports), again
        assert "association rejected (result 1" in again.error
    finally:
        second.stop()
