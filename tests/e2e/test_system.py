"""The whole system, four real processes on loopback: preoperative and postoperative studies
through gRPC and HTTP, a backend killed and restarted, bad input, metrics, the CLI client and
`cervixai up`."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from prometheus_client.parser import text_string_to_metric_families

from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from cervixai.processes import free_port
from cervixai.service import DEFAULT_MAX_MESSAGE_BYTES, channel_options, violations_from_error


def _http_assess(system, stage: str, record: dict[str, object], **params: object) -> httpx.Response:
    files = [("files", (p.name, p.read_bytes(), "application/dicom"))
             for p in system.series_files]
    return httpx.post(f"{system.http_url}v1/assessments", params=params,
                      data={"stage": stage, "clinical": json.dumps(record)}, files=files,
                      timeout=120)


def _grpc_request(system, stage: Stage, record: dict[str, object]) -> gateway_pb2.AssessRequest:
    value = (common_pb2.STAGE_PREOPERATIVE if stage is Stage.PREOPERATIVE
             else common_pb2.STAGE_POSTOPERATIVE)
    return gateway_pb2.AssessRequest(
        stage=value, clinical=record_to_proto(validate_record(record, stage)),
        dicom_files=[gateway_pb2.DicomFile(name=p.name, data=p.read_bytes())
                     for p in system.series_files])


def _stub(system):
    channel = grpc.insecure_channel(system.grpc_address,
                                    options=channel_options(DEFAULT_MAX_MESSAGE_BYTES))
    return channel, gateway_pb2_grpc.GatewayStub(channel)


def test_preoperative_same_answer_over_grpc_and_http(system) -> None:
    reply = _http_assess(system, "preoperative", system.preoperative)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    tasks = [p["task"] for p in body["predictions"]]
    assert sorted(tasks) == ["TASK_LYMPH_NODE_METASTASIS", "TASK_PARAMETRIAL_INVASION"]
    assert body["survival"] == []
    for p in body["predictions"]:
        assert 0.0 <= p["probability"] <= 1.0 and 0.0 < p["threshold"] < 1.0
        assert p["label"] == (p["probability"] >= p["threshold"])
        assert p["model"]["sha256"] and p["model"]["version"]
    assert body["segmentation"]["provider"] == "CPUExecutionProvider"
    assert body["series"]["orientation"] == "coronal"
    assert {t["stage"] for t in body["timings"]} >= {"ingest", "segment", "classify", "total"}
    channel, stub = _stub(system)
    with channel:
        answer = stub.Assess(_grpc_request(system, Stage.PREOPERATIVE, system.preoperative),
                             timeout=120)
    as_json = MessageToDict(answer, preserving_proto_field_name=True,
                            always_print_fields_with_no_presence=True)
    for key in ("predictions", "series", "segmentation", "models"):
        assert as_json[key] == body[key], key


def test_postoperative_with_survival_and_streaming(system) -> None:
    reply = _http_assess(system, "postoperative", system.record, preview="true")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert len(body["predictions"]) == 4
    outcomes = {s["outcome"]: s for s in body["survival"]}
    assert set(outcomes) == {"SURVIVAL_OUTCOME_RFS", "SURVIVAL_OUTCOME_OS"}
    for s in outcomes.values():
        probabilities = [p["probability"] for p in s["curve"]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0 <= s["survival_probability_60_months"] <= s["survival_probability_12_months"] <= 1
    # int64 fields are JSON strings
    assert len(body["preview"]["slices_png_base64"]) == int(body["series"]["slices"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for p in system.series_files:
            archive.writestr(f"series/{p.name}", p.read_bytes())
    header = gateway_pb2.AssessHeader(
        stage=common_pb2.STAGE_POSTOPERATIVE,
        clinical=record_to_proto(validate_record(system.record, Stage.POSTOPERATIVE)))
    data = buffer.getvalue()
    chunks = [gateway_pb2.AssessChunk(header=header)] + [
        gateway_pb2.AssessChunk(file_chunk=gateway_pb2.DicomFileChunk(
            name="study.zip", data=data[i:i + 65536])) for i in range(0, len(data), 65536)]
    channel, stub = _stub(system)
    with channel:
        streamed = stub.AssessStream(iter(chunks), timeout=120)
    assert [p.probability for p in streamed.predictions] == pytest.approx(
        [p["probability"] for p in body["predictions"]], abs=1e-6)


def test_bad_input_gets_field_details_on_both_apis(system) -> None:
    record = {**system.preoperative, "scca_ng_ml": -4}
    reply = httpx.post(f"{system.http_url}v1/assessments",
                       data={"stage": "preoperative", "clinical": json.dumps(record)},
                       files=[("files", ("x.dcm", b"DICM" * 40, "application/dicom"))],
                       timeout=30)
    assert reply.status_code == 400
    fields = {v["field"] for v in reply.json()["error"]["field_violations"]}
    # HTTP names the upload by its form field, gRPC by the proto's (below)
    assert "clinical.scca_ng_ml" in fields and any(f.startswith("files") for f in fields)
    channel, stub = _stub(system)
    with channel:
        request = _grpc_request(system, Stage.PREOPERATIVE, system.preoperative)
        request.clinical.age_years = 7
        request.dicom_files[0].data = request.dicom_files[0].data[:200]  # truncated
        with pytest.raises(grpc.RpcError) as info:
            stub.Assess(request, timeout=60)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = {v.field for v in violations_from_error(info.value)}
    assert "clinical.age_years" in found and "dicom_files[0]" in found


def test_a_killed_backend_fails_fast_and_recovers(system) -> None:
    system.processes["survival"].stop()
    started = time.monotonic()
    reply = _http_assess(system, "postoperative", system.record)
    assert time.monotonic() - started < 30  # the segmenter runs first; survival fails at once
    assert reply.status_code == 503
    assert reply.json()["error"]["backend"] == "survival"
    assert httpx.get(f"{system.http_url}healthz", timeout=5).status_code == 200
    ready = httpx.get(f"{system.http_url}readyz", timeout=5)
    assert ready.status_code == 503 and ready.json()["backends"]["survival"] != "SERVING"
    # preoperative studies do not need the survival service
    assert _http_assess(system, "preoperative", system.preoperative).status_code == 200
    system.restart("survival").wait_serving("cervix.v1.Survival", timeout=120)
    for _ in range(50):
        reply = _http_assess(system, "postoperative", system.record)
        if reply.status_code == 200:
            break
        time.sleep(0.5)
    assert reply.status_code == 200


def test_metrics_count_what_happened(system) -> None:
    assert _http_assess(system, "preoperative", system.preoperative).status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(
        httpx.get(f"{system.http_url}metrics", timeout=10).text)}
    stages = {s.labels["stage"] for s in families["cervixai_gateway_stage_duration_seconds"].samples
              if s.name.endswith("_count") and s.value > 0}
    assert {"ingest", "segment", "features", "classify", "total"} <= stages
    ok = [s for s in families["cervixai_gateway_assessments"].samples
          if s.labels.get("code") == "OK" and s.name.endswith("_total")]
    assert sum(s.value for s in ok) >= 1
    for family in families.values():
        for sample in family.samples:
            assert system.patient not in json.dumps(sample.labels)


def test_command_line_client(system, tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps(system.record))
    result = subprocess.run(
        [sys.executable, "-m", "cervixai.cli", "assess", "--stage", "postoperative",
         "--clinical", str(record), "--gateway", system.grpc_address,
         str(system.series_files[0].parent)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "parametrial invasion" in result.stdout and "RFS" in result.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "cervixai.cli", "assess", "--stage", "postoperative",
         "--clinical", str(record), "--gateway", system.grpc_address, "--json",
         str(system.series_files[0].parent)], capture_output=True, text=True, timeout=180)
    assert len(json.loads(as_json.stdout)["predictions"]) == 4


def test_up_runs_the_system_from_a_bundle(system_bundle, e2e_cohort, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "cohort").symlink_to(e2e_cohort)
    env = {**os.environ, "CERVIXAI_BUNDLE": str(system_bundle)}
    result = subprocess.run(
        [sys.executable, "-m", "cervixai.cli", "up", "--home", str(home), "--exit-after-demo",
         "--http-port", str(free_port()), "--grpc-port", str(40000 + free_port() % 20000)],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "bundle" in out and "complete" in out
    for name in ("segmenter", "classifier", "survival", "gateway"):   # each one, on its port
        metrics = "" if name == "gateway" else r", metrics on http://127\.0\.0\.1:\d+/metrics"
        assert re.search(rf"^  {name} +SERVING on 127\.0\.0\.1:\d+{metrics}$", out,
                         re.MULTILINE), name
    assert "example: postoperative assessment" in out and "%" in out
    assert "stopped (exit code 0)" in out


def test_command_line_client_writes_the_result_objects(system, tmp_path: Path) -> None:
    import pydicom

    record = tmp_path / "record.json"
    record.write_text(json.dumps(system.record))
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "cervixai.cli", "assess", "--stage", "postoperative",
         "--clinical", str(record), "--gateway", system.grpc_address, "--out", str(out),
         "--subject", "Patient/e2e-42", str(system.series_files[0].parent)],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert f"wrote segmentation.dcm, report.dcm, bundle.json to {out}" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["bundle.json", "report.dcm",
                                                     "segmentation.dcm"]
    source = pydicom.dcmread(system.series_files[0], stop_before_pixels=True)
    seg = pydicom.dcmread(out / "segmentation.dcm")
    sr = pydicom.dcmread(out / "report.dcm")
    assert (seg.Modality, sr.Modality) == ("SEG", "SR")
    for ds in (seg, sr):
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.PatientID == source.PatientID
    bundle = json.loads((out / "bundle.json").read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert any(e["resource"].get("subject") == {"reference": "Patient/e2e-42"}
               for e in bundle["entry"])
    # only the SR asked for, with --json: stdout stays one JSON document naming the files; the
    # SR comes with the SEG it cites
    only_sr = tmp_path / "sr-only"
    as_json = subprocess.run(
        [sys.executable, "-m", "cervixai.cli", "assess", "--stage", "postoperative",
         "--clinical", str(record), "--gateway", system.grpc_address, "--out", str(only_sr),
         "--results", "dicom-sr", "--json", str(system.series_files[0].parent)],
        capture_output=True, text=True, timeout=180)
    assert as_json.returncode == 0, as_json.stderr
    objects = json.loads(as_json.stdout)["result_objects"]
    assert [(o["kind"], o["path"]) for o in objects] == [
        ("RESULT_KIND_DICOM_SEG", str(only_sr / "segmentation.dcm")),
        ("RESULT_KIND_DICOM_SR", str(only_sr / "report.dcm"))]
    assert sorted(p.name for p in only_sr.iterdir()) == ["report.dcm", "segmentation.dcm"]
    bad = subprocess.run(
        [sys.executable, "-m", "cervixai.cli", "assess", "--stage", "postoperative",
         "--clinical", str(record), "--out", str(only_sr), "--results", "dicom-seg,pdf",
         str(system.series_files[0].parent)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--results" in bad.stderr


def test_sigterm_to_up_lets_every_request_in_flight_finish(system, system_bundle, e2e_cohort,
                                                          tmp_path: Path) -> None:
    """The launcher stops the gateway first and lets it drain while its backends still answer,
    then the backends: requests in flight at SIGTERM all complete."""
    import signal
    import threading

    home = tmp_path / "home"
    home.mkdir()
    (home / "cohort").symlink_to(e2e_cohort)
    http_port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "cervixai.cli", "up", "--home", str(home), "--no-demo",
         "--http-port", str(http_port), "--grpc-port", str(40000 + free_port() % 20000)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "CERVIXAI_BUNDLE": str(system_bundle)})
    assert up.stdout is not None
    lines: list[str] = []
    for line in up.stdout:
        lines.append(line)
        if "cervixai is running" in line:
            break
    else:
        raise AssertionError("".join(lines)[-3000:])
    files = [("files", (p.name, p.read_bytes(), "application/dicom"))
             for p in system.series_files]
    codes: list[int] = []

    def one() -> None:
        codes.append(httpx.post(f"http://127.0.0.1:{http_port}/v1/assessments",
                                data={"stage": "postoperative",
                                      "clinical": json.dumps(system.record)},
                                files=files, timeout=120).status_code)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)   # the requests are in the gateway
    up.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(150)
    rest, _ = up.communicate(timeout=120)
    out = "".join(lines) + rest
    assert codes == [200] * 4, out[-3000:]
    assert up.returncode == 0 and out.count("stopped (exit code 0)") == 4, out[-3000:]
    assert out.index("gateway     stopped") < out.index("segmenter   stopped")
