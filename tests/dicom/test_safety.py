"""No input makes anything but InvalidInput escape, and nothing identifying leaves the module."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import RLELossless

from cervixai.dicom import DicomSource, IngestOptions, load_series
from cervixai.dicom.writer import PatientIdentity, enhanced_dataset, series_datasets
from cervixai.errors import InvalidInput

IDENTITY = PatientIdentity(
    name="DOE^JANE^Q", patient_id="PID-7734512", birth_date="19611224", sex="F",
    accession_number="ACC99120077", institution_name="St Elsewhere Hospital",
    referring_physician="HOUSE^GREGORY", station_name="MRSTATION42", study_date="20230314",
    study_time="091516",
    extra=(("OtherPatientIDs", "ALT-5520981"), ("InstitutionAddress", "12 Harbour Road"),
           ("OperatorsName", "TECH^TERESA"), ("PerformingPhysicianName", "GREY^MEREDITH"),
           ("DeviceSerialNumber", "SN-448811"), ("RequestingPhysician", "WHO^JOHN"),
           ("PatientAddress", "99 Elm Street"), ("AcquisitionDate", "20230314"),
           ("InstitutionalDepartmentName", "Radiology West")),
)
SECRETS = ["DOE", "JANE", "PID-7734512", "19611224", "ACC99120077", "Elsewhere", "HOUSE",
           "MRSTATION42", "20230314", "091516", "ALT-5520981", "Harbour", "TERESA", "MEREDITH",
           "SN-448811", "WHO^JOHN", "Elm Street", "Radiology West"]


def _stuffed(kit, depth=3, **options):
    datasets = series_datasets(kit.phantom(depth=depth), patient=IDENTITY, **options)
    uids = [datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID,
            datasets[0].FrameOfReferenceUID, *(ds.SOPInstanceUID for ds in datasets)]
    return datasets, uids


def _assert_clean(text: str, uids: list[str]) -> None:
    for secret in [*SECRETS, *uids]:
        assert secret not in text, secret


def _broken_variants(kit):
    """Each returns (datasets, uids) that load_series must refuse."""
    def ct():
        return _stuffed(kit, modality="CT")

    def gap():
        datasets, uids = _stuffed(kit, depth=5)
        return [datasets[k] for k in (0, 1, 3, 4)] + [], uids

    def duplicate():
        datasets, uids = _stuffed(kit)
        return [*datasets, datasets[1]], uids

    def two_series():
        a, uids_a = _stuffed(kit)
        b, uids_b = _stuffed(kit, series_number=9, series_description="AX")
        return a + b, uids_a + uids_b

    def zero_pixels():
        datasets, uids = _stuffed(kit)
        datasets[1].PixelData = bytes(len(datasets[1].PixelData))
        return datasets, uids

    def bad_orientation():
        datasets, uids = _stuffed(kit)
        datasets[2].ImageOrientationPatient = ["0", "1", "0", "0", "0", "-1"]
        return datasets, uids

    return [ct, gap, duplicate, two_series, zero_pixels, bad_orientation]


def test_nothing_identifying_leaves_the_module(kit, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    datasets, uids = _stuffed(kit, depth=4, transfer_syntax=RLELossless)
    names = [f"slice{k}.dcm" for k in range(4)]
    series = load_series(kit.as_sources(datasets, names))
    _assert_clean(repr(series), uids)
    _assert_clean(" ".join(series.warnings), uids)
    assert series.info.series_description == "COR T2 FS"  # whitelisted facts do come out
    enhanced = enhanced_dataset(kit.phantom(depth=3), patient=IDENTITY)
    multi = load_series([DicomSource("mf.dcm", kit.to_bytes(enhanced))])
    _assert_clean(repr(multi), [enhanced.SOPInstanceUID, enhanced.SeriesInstanceUID])
    _assert_clean(caplog.text, uids)


@pytest.mark.parametrize("variant", range(6))
def test_error_messages_carry_nothing_identifying(kit, caplog, variant) -> None:
    caplog.set_level(logging.DEBUG)
    datasets, uids = _broken_variants(kit)[variant]()
    options = IngestOptions(strict_single_series=True)
    with pytest.raises(InvalidInput) as info:
        load_series(kit.as_sources(datasets, [f"f{k}.dcm" for k in range(len(datasets))]),
                    options=options)
    _assert_clean(str(info.value), uids)
    _assert_clean(" ".join(v.description for v in info.value.violations), uids)
    _assert_clean(caplog.text, uids)


def _outcome(sources: list[DicomSource]) -> str:
    """'read' or 'refused'; anything other than InvalidInput propagates and fails the test."""
    try:
        load_series(sources)
    except InvalidInput as e:
        assert e.violations
        return "refused"
    return "read"


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"DICM", bytes(132), b"\x00" * 128 + b"DICM",
    b"\x00" * 128 + b"DICM" + b"\xff" * 64,
    b"\x08\x00\x16\x00UI\x04\x00abcd", b"\x08\x00\x60\x00CS\x02\x00MR",
    b"\x02\x00\x10\x00UI\xff\xff", b"PK\x03\x04" + bytes(100), b"%PDF-1.4 hello",
])
@pytest.mark.filterwarnings("ignore")
def test_garbage_is_refused_as_invalid_input(data) -> None:
    assert _outcome([DicomSource("upload.bin", data)]) == "refused"


@pytest.mark.filterwarnings("ignore")
def test_random_bytes_are_refused_as_invalid_input() -> None:
    rng = np.random.default_rng(11)
    for size in (1, 7, 131, 132, 500, 5000):
        for _ in range(5):
            data = bytearray(rng.bytes(size))
            if size >= 132 and rng.random() < 0.5:
                data[128:132] = b"DICM"
            assert _outcome([DicomSource("noise", bytes(data))]) == "refused"


def _mutations(data: bytes, rng: np.random.Generator, count: int):
    """Byte flips (mostly in the header), cuts, duplicated and deleted spans."""
    header_end = min(len(data), 1200)
    for _ in range(count):
        mutated = bytearray(data)
        kind = rng.integers(4)
        if kind == 0:
            for _ in range(int(rng.integers(1, 12))):
                where = int(rng.integers(128, header_end))
                mutated[where] = int(rng.integers(256))
        elif kind == 1:
            mutated = mutated[:int(rng.integers(1, len(data)))]
        elif kind == 2:
            start = int(rng.integers(132, header_end))
            stop = start + int(rng.integers(1, 64))
            del mutated[start:stop]
        else:
            start = int(rng.integers(132, header_end))
            mutated[start:start] = mutated[start:start + int(rng.integers(1, 64))]
        yield bytes(mutated)


@pytest.mark.filterwarnings("ignore")
def test_random_mutations_of_real_and_written_files_raise_only_invalid_input(kit) -> None:
    rng = np.random.default_rng(2024)
    real = Path(get_testdata_file("MR_small.dcm", download=False)).read_bytes()
    written = kit.to_bytes(series_datasets(kit.phantom(depth=1, rows=64, columns=64))[0])
    enhanced = kit.to_bytes(enhanced_dataset(kit.phantom(depth=2, rows=32, columns=32)))
    rle = kit.to_bytes(series_datasets(kit.phantom(depth=1, rows=32, columns=32),
                                       transfer_syntax=RLELossless)[0])
    seen = set()
    for original in (real, written, enhanced, rle):
        for mutated in _mutations(original, rng, 60):
            seen.add(_outcome([DicomSource("mutant.dcm", mutated)]))
    assert "refused" in seen  # and nothing else escaped


def test_a_truncated_series_member_is_refused(kit) -> None:
    sources = kit.sources(depth=3)
    sources[1] = DicomSource("IM0001.dcm", sources[1].data[:-1000])
    assert _outcome(sources) == "refused"
