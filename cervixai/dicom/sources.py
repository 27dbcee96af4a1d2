"""Where DICOM bytes come from: uploads, folders, single files and zip archives, within limits.

A folder is read recursively and a zip archive entry by entry; files that are obviously not DICOM
(by name or by their first bytes) are skipped, so that a study folder with a DICOMDIR, a README or
macOS metadata still loads. Size and count limits are checked before anything is read and again
while reading, because zip headers can lie (zip bombs).
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path, PurePosixPath

from cervixai.dicom.compressed import deflated_offset, gunzip, inflated_size, is_gzip
from cervixai.dicom.errors import UploadError
from cervixai.dicom.limits import DEFAULT_LIMITS, MIB, IngestLimits, size_text

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 * MIB

# Extensions that never hold DICOM; files without an extension or with any other are sniffed.
_NOT_DICOM_SUFFIXES = frozenset({
    ".txt", ".md", ".rst", ".json", ".xml", ".html", ".htm", ".csv", ".tsv", ".ini", ".cfg",
    ".log", ".pdf", ".doc", ".docx", ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff",
    ".exe", ".dll", ".bat", ".sh", ".py", ".js", ".css", ".db", ".zip", ".tgz", ".tar", ".7z",
    ".nii", ".mha", ".nrrd", ".lnk", ".inf",
})
# A DICOM file without the 128-byte preamble starts with its lowest group: file meta (0002),
# identifying (0008), or rarely command (0000) / directory (0004), in either byte order.
_FIRST_GROUPS = frozenset({0x0000, 0x0002, 0x0004, 0x0008})


@dataclass(frozen=True)
class DicomSource:
    """One uploaded file; ``name`` is only used in messages (the upload name, or a path)."""

    name: str
    data: bytes

    def __repr__(self) -> str:
        return f"DicomSource(name={self.name!r}, {len(self.data)} bytes)"


def is_ignored_name(name: str) -> bool:
    """True for paths that are never DICOM images: DICOMDIR, hidden files, macOS metadata, and
    files whose extension says they are documents, pictures or archives."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts:
        return True
    base = parts[-1]
    if any(p == "__MACOSX" for p in parts) or base.startswith(".") or base.upper() == "DICOMDIR":
        return True
    lower = base.lower()
    if lower.endswith(".gz"):  # IM0001.dcm.gz is unpacked; report.pdf.gz, x.tar.gz are not DICOM
        lower = lower[:-3]
        if lower.upper() == "DICOMDIR":
            return True
    return PurePosixPath(lower).suffix in _NOT_DICOM_SUFFIXES


def looks_like_dicom(data: bytes) -> bool:
    """True when the first bytes could start a DICOM file (with or without the preamble)."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return True
    if len(data) < 8:
        return False
    return (int.from_bytes(data[:2], "little") in _FIRST_GROUPS
            or int.from_bytes(data[:2], "big") in _FIRST_GROUPS)


def read_sources(path: str | Path, *, limits: IngestLimits = DEFAULT_LIMITS) -> list[DicomSource]:
    """The DICOM files at ``path``: a folder (recursively), a single file, or a ``.zip`` archive.

    DICOMDIR and obviously non-DICOM files are skipped; sources are named by their path relative
    to the folder (or by their archive entry name). Raises :class:`UploadError` when the path does
    not exist or the files exceed ``limits``.
    """
    sources, _ = scan_path(path, limits=limits)
    return sources


def scan_path(path: str | Path, *,
              limits: IngestLimits = DEFAULT_LIMITS) -> tuple[list[DicomSource], list[str]]:
    """Like :func:`read_sources`, also returning the names of the files that were skipped."""
    root = Path(path)
    if root.is_dir():
        return _scan_folder(root, limits)
    if not root.is_file():
        raise UploadError.at("path", f"'{path}' is neither a file nor a folder")
    if root.suffix.lower() == ".zip" or zipfile.is_zipfile(root):
        return _scan_zip(_read_file(root, root.name, limits), limits)
    data = _read_file(root, root.name, limits)
    if is_gzip(data):
        data = gunzip(data, name=root.name, field="path", limits=limits,
                      budget=limits.max_total_bytes)
    return [DicomSource(root.name, data)], []


def sources_from_zip(data: bytes, *, limits: IngestLimits = DEFAULT_LIMITS) -> list[DicomSource]:
    """The DICOM files in a zip archive (an upload), named by their entry path.

    Directory entries, ``__MACOSX/``, ``.DS_Store``, DICOMDIR and obviously non-DICOM entries are
    skipped. The entry count, each entry's size and the total size are checked against ``limits``
    from the archive's headers and again while decompressing. Raises :class:`UploadError`.
    """
    sources, _ = _scan_zip(data, limits)
    return sources


def check_upload_size(sources: list[DicomSource] | tuple[DicomSource, ...],
                      limits: IngestLimits) -> None:
    """Refuse a list of uploaded files that exceeds ``limits``."""
    if len(sources) > limits.max_files:
        raise UploadError.at("dicom_files", f"{len(sources)} files were sent; the limit is "
                             f"{limits.max_files} files per series")
    total = 0
    for index, source in enumerate(sources):
        if len(source.data) > limits.max_file_bytes:
            raise UploadError.at(f"dicom_files[{index}]", f"'{source.name}' is "
                                 f"{size_text(len(source.data))}; the limit is "
                                 f"{size_text(limits.max_file_bytes)} per file")
        total += len(source.data)
    if total > limits.max_total_bytes:
        raise UploadError.at("dicom_files", f"the files total {size_text(total)}; the limit is "
                             f"{size_text(limits.max_total_bytes)}")


def gunzip_sources(sources: Sequence[DicomSource], limits: IngestLimits) -> list[DicomSource]:
    """Uploaded sources with every gzip file unpacked, together within ``limits``, named as
    they were uploaded (``dicom_files[i]`` in errors); a file in the Deflated transfer syntax
    counts at its inflated size."""
    deflated = {i for i, s in enumerate(sources) if deflated_offset(s.data) is not None}
    total = sum(len(s.data) for i, s in enumerate(sources)
                if not is_gzip(s.data) and i not in deflated)
    out = []
    for index, source in enumerate(sources):
        field = f"dicom_files[{index}]"
        if is_gzip(source.data):
            source = DicomSource(source.name, gunzip(
                source.data, name=source.name, field=field, limits=limits,
                budget=limits.max_total_bytes - total))
        elif index not in deflated:
            out.append(source)
            continue
        # unpacked, or deflated: counted at its inflated size (pydicom inflates it whole)
        total += inflated_size(source.data, name=source.name, field=field, limits=limits,
                               budget=limits.max_total_bytes - total)
        out.append(source)
    return out


def _scan_folder(root: Path, limits: IngestLimits) -> tuple[list[DicomSource], list[str]]:
    sources: list[DicomSource] = []
    skipped: list[str] = []
    total = 0
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        name = file.relative_to(root).as_posix()
        if is_ignored_name(name):
            skipped.append(name)
            continue
        if len(sources) >= limits.max_files:
            raise UploadError.at("path", f"the folder holds more than {limits.max_files} "
                                 f"DICOM files; the limit is {limits.max_files} files")
        data = _read_file(file, name, limits)
        if is_gzip(data):
            data = gunzip(data, name=name, field="path", limits=limits,
                          budget=limits.max_total_bytes - total)
        if not looks_like_dicom(data):
            skipped.append(name)
            continue
        total += len(data)
        if total > limits.max_total_bytes:
            raise UploadError.at("path", f"the DICOM files in the folder total more than "
                                 f"{size_text(limits.max_total_bytes)}; the limit is "
                                 f"{size_text(limits.max_total_bytes)} (unpacked)")
        sources.append(DicomSource(name, data))
    if skipped:
        logger.info("skipped %d non-DICOM files in a folder", len(skipped))
    return sources, skipped


def _read_file(file: Path, name: str, limits: IngestLimits) -> bytes:
    try:
        size = file.stat().st_size
        if size > limits.max_file_bytes:
            raise UploadError.at("path", f"'{name}' is {size_text(size)}; the limit is "
                                 f"{size_text(limits.max_file_bytes)} per file")
        with file.open("rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)
    except OSError as e:
        raise UploadError.at("path", f"'{name}' cannot be read ({e.strerror or type(e).__name__})"
                             ) from e
    if len(data) > limits.max_file_bytes:  # grew after stat, or a special file
        raise UploadError.at("path", f"'{name}' is larger than the limit of "
                             f"{size_text(limits.max_file_bytes)} per file")
    return data


def _scan_zip(data: bytes, limits: IngestLimits) -> tuple[list[DicomSource], list[str]]:
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as e:
        raise UploadError.at("archive", "the upload is not a readable zip archive") from e
    with archive:
        files = [e for e in entries if not e.is_dir()]
        wanted = [e for e in files if not is_ignored_name(e.filename)]
        skipped = [e.filename for e in files if is_ignored_name(e.filename)]
        if len(wanted) > limits.max_files:
            raise UploadError.at("archive", f"the archive holds {len(wanted)} files; the limit "
                                 f"is {limits.max_files}")
        declared = 0
        for entry in wanted:
            if entry.file_size > limits.max_file_bytes:
                raise UploadError.at("archive", f"entry '{entry.filename}' unpacks to "
                                     f"{size_text(entry.file_size)}; the limit is "
                                     f"{size_text(limits.max_file_bytes)} per file")
            declared += entry.file_size
        if declared > limits.max_total_bytes:
            raise UploadError.at("archive", f"the archive unpacks to {size_text(declared)}; the "
                                 f"limit is {size_text(limits.max_total_bytes)}")
        sources: list[DicomSource] = []
        total = 0
        for entry in wanted:
            content = _unpack(archive, entry, limits, limits.max_total_bytes - total)
            if is_gzip(content):
                content = gunzip(content, name=entry.filename, field="archive", limits=limits,
                                 budget=limits.max_total_bytes - total)
            total += len(content)
            if looks_like_dicom(content):
                sources.append(DicomSource(entry.filename, content))
            else:
                skipped.append(entry.filename)
    if skipped:
        logger.info("skipped %d non-DICOM entries in a zip archive", len(skipped))
    return sources, skipped


def _unpack(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limits: IngestLimits,
            budget: int) -> bytes:
    """One entry's bytes, stopping as soon as a limit is passed whatever its header claimed."""
    cap = min(limits.max_file_bytes, budget)
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(min(_CHUNK_BYTES, cap + 1 - size)):
                size += len(chunk)
                if size > cap:
                    limit, scope = ((limits.max_file_bytes, "per file")
                                    if cap == limits.max_file_bytes
                                    else (limits.max_total_bytes, "for the whole archive"))
                    raise UploadError.at("archive", f"entry '{entry.filename}' unpacks to more "
                                         f"than its header says; the limit is {size_text(limit)} "
                                         f"{scope}")
                chunks.append(chunk)
    except RuntimeError as e:  # zipfile raises RuntimeError for encrypted entries
        raise UploadError.at("archive", f"entry '{entry.filename}' is encrypted; send an "
                             f"archive without a password") from e
    except NotImplementedError as e:
        raise UploadError.at("archive", f"entry '{entry.filename}' uses a compression method "
                             f"that cannot be unpacked (use deflate or store)") from e
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise UploadError.at("archive", f"entry '{entry.filename}' is damaged and cannot be "
                             f"unpacked") from e
    return b"".join(chunks)
