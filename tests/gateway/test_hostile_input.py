"""Hostile and heavy input at the HTTP edge: a huge, deep or non-numeric clinical record is a
quick 400 on ``clinical`` (never a 500, never a stalled event loop), and ``/healthz`` answers
while a large but legal request is being refused."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

HUNDRED_THOUSAND_KEYS = "{" + ",".join(f'"unknown_variable_{k:06d}": 1'
                                       for k in range(100_000)) + "}"


def _post_text(http, clinical: str, files, stage: str = "preoperative"):
    return http.post("/v1/assessments", data={"stage": stage, "clinical": clinical},
                     files=[("files", (name, data, "application/dicom")) for name, data in files])


def _violations(reply) -> dict[str, str]:
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    return {v["field"]: v["description"] for v in error["field_violations"]}


@pytest.mark.parametrize(
    ("clinical", "field", "message"),
    [
        (HUNDRED_THOUSAND_KEYS, "clinical", r"^is \d+ bytes; the limit is 64 KiB \(65536 bytes\)$"),
        ("[" * 1000 + "]" * 1000, "clinical", r"^nests 1000 levels deep; the limit is 8"),
        ('{"a": ' + "[" * 20 + '"[[[["' + "]" * 20 + "}", "clinical", r"nests 21 levels"),
        ("!age_years", "clinical.age_years", r"integer too large for a float"),
        ('{"age_years": NaN}', "clinical", r"NaN is not a finite number"),
        ('{"age_years": -Infinity}', "clinical", r"-Infinity is not a finite number"),
        ('{"age_years": 1e400}', "clinical.age_years", r"must be a finite number"),
        ('{"age_years": "४८"}', "clinical.age_years", r"ASCII decimal"),
    ],
    ids=["100k-keys-1.5MB", "nested-1000", "nested-20-strings-not-counted", "400-digits",
         "nan", "minus-infinity", "1e400", "devanagari"],
)
def test_hostile_records_are_a_quick_400(served_gateway, preoperative, series_files, clinical,
                                         field, message) -> None:
    _, http, _, _ = served_gateway
    if clinical == "!age_years":
        clinical = json.dumps(preoperative)[:-1] + ', "age_years": ' + "9" * 400 + "}"
    started = time.monotonic()
    found = _violations(_post_text(http, clinical, series_files[:4]))
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.1f} s to refuse"
    assert field in found, found
    assert __import__("re").search(message, found[field]), found[field]


def test_unknown_variables_are_named_up_to_five_and_counted(served_gateway, preoperative,
                                                            series_files) -> None:
    _, http, _, _ = served_gateway
    record = {**preoperative, **{f"unknown_{k}": 1 for k in range(2000)}}
    found = _violations(_post_text(http, json.dumps(record), series_files[:4]))
    unknown = [f for f in found if f.startswith("clinical.unknown_")]
    assert unknown == [f"clinical.unknown_{k}" for k in range(5)]
    assert found["clinical"] == "2000 unknown variables in all; the first 5 are listed"


def test_healthz_answers_while_a_large_legal_request_is_in_flight(
        served_gateway, preoperative, series_files) -> None:
    """A record just under the size limit (about 2,700 unknown keys) with a whole series:
    parsing, validating and reading the DICOM all happen off the event loop."""
    _, http, _, _ = served_gateway
    record = {**preoperative}
    k = 0
    while len(json.dumps(record)) < 63 * 1024:
        record[f"unknown_variable_{k:05d}"] = "x"
        k += 1
    clinical = json.dumps(record)
    done = threading.Event()
    replies: list[httpx.Response] = []

    def post_repeatedly() -> None:
        with httpx.Client(base_url=http.base_url, timeout=60) as client:
            while not done.is_set():
                replies.append(_post_text(client, clinical, series_files))

    poster = threading.Thread(target=post_repeatedly)
    poster.start()
    latencies = []
    try:
        time.sleep(0.3)
        deadline = time.monotonic() + 4
        with httpx.Client(base_url=http.base_url, timeout=30) as probe:
            while time.monotonic() < deadline:
                started = time.monotonic()
                assert probe.get("/healthz").status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)
    finally:
        done.set()
        poster.join()
    assert replies and all(r.status_code == 400 for r in replies)
    assert "clinical" in _violations(replies[0])
    # printed for the record (pytest -s); the bound is loose on purpose (2 shared cores)
    print(f"/healthz during {len(replies)} large requests: {len(latencies)} probes, "
          f"max {max(latencies) * 1000:.0f} ms, median "
          f"{sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms")
    assert max(latencies) < 2.0


def _series(identity, study_uid=None, series_number=1, slices=8):
    """A small synthetic series of ``identity`` as (name, bytes) uploads."""
    import io

    import numpy as np

    from cervixai.dicom.writer import series_datasets

    volume = np.random.default_rng(series_number).uniform(0, 1000, (slices, 64, 64))
    out = []
    for k, ds in enumerate(series_datasets(volume, patient=identity, study_uid=study_uid,
                                           series_number=series_number)):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((f"s{series_number}-{k:03d}.dcm", buffer.getvalue()))
    return out


@pytest.mark.parametrize(("other", "study", "what"), [
    ("MRN11112222", None, "2 patients"),
    (None, "1.2.826.0.1.3680043.8.498.999", "2 studies"),
])
def test_an_upload_of_two_patients_or_studies_is_refused(served_gateway, preoperative,
                                                         identity, other, study, what) -> None:
    import dataclasses

    process, http, _, fakes = served_gateway
    second = dataclasses.replace(identity, patient_id=other) if other else identity
    files = _series(identity) + _series(second, study_uid=study, series_number=2)
    reply = _post_text(http, json.dumps(preoperative), files)
    found = _violations(reply)
    assert found == {"files": f"the upload holds images of {what} (by PatientID and "
                              f"StudyInstanceUID); send one study"}
    assert fakes.received["segmenter"] == []
    for secret in (identity.patient_id, other or "MRN11112222", study or "3680043.8.498.999"):
        assert secret not in reply.text and secret not in process.log.read_text()


def test_series_of_one_patient_and_study_are_still_chosen_among(served_gateway, preoperative,
                                                                identity) -> None:
    _, http, _, _ = served_gateway
    files = _series(identity, slices=16) + _series(identity, series_number=2, slices=8)
    reply = _post_text(http, json.dumps(preoperative), files)
    assert reply.status_code == 200, reply.text
    assert any("the upload holds 2 image series" in w for w in reply.json()["warnings"])


def _bombs() -> dict[str, list[tuple[str, bytes]]]:
    """Small uploads that claim huge pixel data: a 4096×4096 frame in each encapsulated
    (compressed) transfer syntax, its codestream a few bytes; and 80 deflated 2048×2048 slices
    (0.7 MB in all) that would inflate to 640 MiB."""
    import io

    import numpy as np
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        RLELossless,
    )

    from cervixai.dicom.writer import series_datasets

    def save(ds) -> bytes:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()

    out = {}
    (template,) = series_datasets(np.ones((1, 8, 8)))
    for syntax in (RLELossless, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless):
        ds = template.copy()
        ds.Rows = ds.Columns = 4096
        ds.file_meta.TransferSyntaxUID = syntax
        ds.PixelData = encapsulate([b"\x00" * 64])
        ds["PixelData"].VR = "OB"
        out[syntax.name] = [(f"{syntax.name}.dcm", save(ds))]
    pattern = np.broadcast_to((np.arange(2048) % 64)[None, None, :], (80, 2048, 2048))
    deflated = []
    for k, ds in enumerate(series_datasets(pattern)):
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        deflated.append((f"deflated-{k:02d}.dcm", save(ds)))
    out["deflated, 640 MiB inflated"] = deflated
    return out


def test_pixel_bombs_are_refused_from_their_headers_with_memory_flat(
        served_gateway, preoperative) -> None:
    process, http, _, _ = served_gateway
    bombs = _bombs()
    before = process.peak_rss_mb()
    for name, files in bombs.items():
        started = time.monotonic()
        reply = _post_text(http, json.dumps(preoperative), files)
        elapsed = time.monotonic() - started
        assert reply.status_code == 400, (name, reply.text[:300])
        text = json.dumps(reply.json()["error"])
        assert "4096" in text or "unpacks (Deflated transfer syntax) past the limit" in text, \
            (name, text[:400])
        assert elapsed < 10, f"{name}: {elapsed:.1f} s"
    grown = process.peak_rss_mb() - before
    print(f"gateway peak RSS {before:.0f} MB before the bombs, +{grown:.0f} MB after")
    assert grown < 150, f"the gateway's peak memory grew {grown:.0f} MB"
