"""Sources: folders, single files and zip archives, with the limits that guard them."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest

from cervixai.dicom import (
    IngestLimits,
    IngestOptions,
    UploadError,
    load_series,
    load_series_from_path,
    read_sources,
    sources_from_zip,
)
from cervixai.dicom.sources import is_ignored_name, looks_like_dicom
from cervixai.dicom.writer import write_series


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            if name.endswith("/"):
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


def _series_files(kit, depth: int = 3) -> dict[str, bytes]:
    return {f"IM{k:04d}.dcm": kit.to_bytes(ds) for k, ds in enumerate(kit.datasets(depth=depth))}


@pytest.mark.parametrize(("name", "ignored"), [
    ("IM0001.dcm", False), ("IM0001", False), ("1.2.840.113619.2.55.3", False),
    ("DICOMDIR", True), ("study/dicomdir", True), (".DS_Store", True),
    ("__MACOSX/series/._IM0001", True), ("README.txt", True), ("report.PDF", True),
    ("preview.jpg", True), ("nested.zip", True), ("series/.hidden", True),
])
def test_ignored_names(name, ignored) -> None:
    assert is_ignored_name(name) == ignored


@pytest.mark.parametrize(("data", "dicom"), [
    (b"\x00" * 128 + b"DICM" + b"\x02\x00", True),
    (b"\x02\x00\x00\x00UL\x04\x00", True),  # file meta without preamble
    (b"\x08\x00\x05\x00CS\x0a\x00", True),  # dataset without file meta, little endian
    (b"\x00\x08\x00\x05CS\x00\x0a", True),  # ... big endian
    (b"%PDF-1.7\n%", False), (b"\x89PNG\r\n\x1a\n", False), (b"", False), (b"\x08\x00", False),
])
def test_dicom_sniffing(data, dicom) -> None:
    assert looks_like_dicom(data) == dicom


def test_a_folder_is_read_recursively_skipping_what_is_not_dicom(kit, tmp_path) -> None:
    files = _series_files(kit)
    (tmp_path / "PATIENT" / "STUDY" / "SERIES").mkdir(parents=True)
    for name, data in files.items():
        (tmp_path / "PATIENT" / "STUDY" / "SERIES" / name).write_bytes(data)
    (tmp_path / "DICOMDIR").write_bytes(b"\x00" * 128 + b"DICM")
    (tmp_path / "README.txt").write_text("how to view")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "PATIENT" / "notes").write_bytes(b"free text, not dicom")
    sources = read_sources(tmp_path)
    assert [s.name for s in sources] == [f"PATIENT/STUDY/SERIES/IM000{k}.dcm" for k in range(3)]
    series = load_series_from_path(tmp_path)
    assert series.volume.shape[0] == 3
    [note] = [w for w in series.warnings if w.startswith("skipped 4 file(s)")]
    assert "'DICOMDIR'" in note and "'PATIENT/notes'" in note


def test_a_single_file_path(kit, tmp_path) -> None:
    path = tmp_path / "one.dcm"
    path.write_bytes(next(iter(_series_files(kit, depth=1).values())))
    assert [s.name for s in read_sources(path)] == ["one.dcm"]
    assert load_series_from_path(path).volume.shape == (1, 256, 256)


def test_a_zip_with_nested_folders_and_mac_metadata(kit, tmp_path) -> None:
    entries = {f"export/series 3/{n}": d for n, d in _series_files(kit).items()}
    entries.update({"export/": b"", "export/series 3/": b"", "__MACOSX/export/._IM0000.dcm":
                    b"\x00\x05\x16\x07", "export/.DS_Store": b"Bud1", "export/DICOMDIR": b"x"})
    archive = _zip(entries)
    sources = sources_from_zip(archive)
    assert [s.name for s in sources] == [f"export/series 3/IM000{k}.dcm" for k in range(3)]
    zipped = tmp_path / "upload.zip"
    zipped.write_bytes(archive)
    from_path = load_series_from_path(zipped)
    np.testing.assert_array_equal(from_path.volume, load_series(sources).volume)


def test_zip_entry_count_is_limited(kit) -> None:
    archive = _zip({f"IM{k}": b"\x08\x00" * 8 for k in range(5)})
    with pytest.raises(UploadError, match="the archive holds 5 files; the limit is 4"):
        sources_from_zip(archive, limits=IngestLimits(max_files=4))


def test_zip_bomb_is_refused_from_its_headers() -> None:
    archive = _zip({"a.dcm": bytes(3 * 1024 * 1024), "b.dcm": bytes(3 * 1024 * 1024)})
    assert len(archive) < 50_000  # highly compressible: the classic bomb shape
    limits = IngestLimits(max_total_bytes=4 * 1024 * 1024)
    with pytest.raises(UploadError, match=r"the archive unpacks to 6.0 MiB; the limit is 4.0 MiB"):
        sources_from_zip(archive, limits=limits)
    with pytest.raises(UploadError, match=r"entry 'a.dcm' unpacks to 3.0 MiB; the limit is "
                       r"2.0 MiB per file"):
        sources_from_zip(archive, limits=IngestLimits(max_file_bytes=2 * 1024 * 1024))


def _lie_about_sizes(archive: bytes, claimed: int) -> bytes:
    """Rewrite every uncompressed-size field (local and central headers) to ``claimed``."""
    data = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + offset:start + offset + 4] = struct.pack("<I", claimed)
            start += 4
    return bytes(data)


def test_zip_bomb_with_lying_headers_is_stopped_while_unpacking() -> None:
    archive = _lie_about_sizes(_zip({"a.dcm": bytes(3 * 1024 * 1024)}), 1000)
    with pytest.raises(UploadError, match=r"entry 'a.dcm' is damaged and cannot be unpacked"):
        sources_from_zip(archive, limits=IngestLimits(max_total_bytes=2 * 1024 * 1024))


class _StreamLongerThanItsHeader:
    """An archive whose entry streams more bytes than declared (CPython's zipfile stops at the
    declared size, so only a stub can exercise the guard that counts bytes while unpacking)."""

    def open(self, entry: zipfile.ZipInfo) -> io.BytesIO:
        return io.BytesIO(bytes(5 * 1024 * 1024))


@pytest.mark.parametrize(("limits", "message"), [
    (IngestLimits(max_file_bytes=1024 * 1024), "the limit is 1.0 MiB per file"),
    (IngestLimits(max_total_bytes=2 * 1024 * 1024), "the limit is 2.0 MiB for the whole archive"),
])
def test_bytes_are_counted_while_unpacking(limits, message) -> None:
    from cervixai.dicom.sources import _unpack

    entry = zipfile.ZipInfo("a.dcm")
    entry.file_size = 10
    with pytest.raises(UploadError, match=f"entry 'a.dcm' unpacks to more than its header "
                       f"says; {message}"):
        _unpack(_StreamLongerThanItsHeader(), entry, limits, limits.max_total_bytes)  # type: ignore[arg-type]


def test_encrypted_entries_are_refused(kit) -> None:
    data = bytearray(_zip({"IM0000.dcm": b"\x08\x00" * 64}, zipfile.ZIP_STORED))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature) + offset
        data[at] |= 0x01  # the "encrypted" flag bit
    with pytest.raises(UploadError, match=r"'IM0000.dcm' is encrypted"):
        sources_from_zip(bytes(data))


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(30)])
def test_broken_archives_are_refused(data) -> None:
    with pytest.raises(UploadError, match="not a readable zip archive"):
        sources_from_zip(data)


def test_folder_limits(kit, tmp_path) -> None:
    write_series(kit.phantom(depth=3), tmp_path)
    with pytest.raises(UploadError, match="more than 2 DICOM files; the limit is 2 files"):
        read_sources(tmp_path, limits=IngestLimits(max_files=2))
    with pytest.raises(UploadError, match=r"is 1\d\d.\d KiB; the limit is 100.0 KiB per file"):
        read_sources(tmp_path, limits=IngestLimits(max_file_bytes=100 * 1024))
    with pytest.raises(UploadError, match=r"total more than 200.0 KiB; the limit is 200.0 KiB "
                       r"\(unpacked\)") as info:
        read_sources(tmp_path, limits=IngestLimits(max_total_bytes=200 * 1024))
    assert "one series at a time" not in str(info.value)


def test_a_missing_path_or_an_empty_folder_is_refused(tmp_path) -> None:
    with pytest.raises(UploadError, match="is neither a file nor a folder"):
        read_sources(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UploadError, match=r"no DICOM files were found .* \(1 other files were "
                       r"skipped\)"):
        load_series_from_path(tmp_path)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_files must be a positive integer, got 0"):
        IngestLimits(max_files=0)
    with pytest.raises(ValueError, match="min_slices <= model_max_slices"):
        IngestOptions(min_slices=5, model_max_slices=4)
