"""Gzip-compressed DICOM files (``IM0001.dcm.gz``, or any file starting with the gzip magic
bytes) are unpacked transparently, in folders, zip archives, single files and uploads.

Unpacking is bounded like zip entries: at most the per-file limit and what is left of the
total limit, counted while decompressing in 1 MiB steps (a gzip header's size field is not
trusted), so a gzip bomb stops at the limit. Concatenated gzip members are read in turn; a
nested gzip is not unpacked again.
"""

from __future__ import annotations

import zlib

from cervixai.dicom.errors import UploadError
from cervixai.dicom.limits import MIB, IngestLimits, size_text

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = MIB


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def gunzip(data: bytes, *, name: str, field: str, limits: IngestLimits, budget: int) -> bytes:
    """The unpacked bytes of a gzip file; :class:`UploadError` on ``field`` when it passes the
    per-file limit or ``budget`` (what is left of the total), or is damaged."""
    cap = min(limits.max_file_bytes, budget)
    out: list[bytes] = []
    size = 0
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            chunk = inflater.decompress(pending, _CHUNK_BYTES)
            while True:
                size += len(chunk)
                if size > cap:
                    raise _over_limit(name, field, limits, cap)
                out.append(chunk)
                if inflater.eof or not inflater.unconsumed_tail:
                    break
                chunk = inflater.decompress(inflater.unconsumed_tail, _CHUNK_BYTES)
            if not inflater.eof:
                raise UploadError.at(field, f"'{name}' is gzip-compressed but ends before its "
                                     f"end marker; the file is truncated")
            pending = inflater.unused_data
            if pending and not is_gzip(pending):
                break  # trailing padding after the last member, as some tools write
    except zlib.error as e:
        raise UploadError.at(field, f"'{name}' is gzip-compressed but damaged and cannot be "
                             f"unpacked") from e
    return b"".join(out)


def _over_limit(name: str, field: str, limits: IngestLimits, cap: int) -> UploadError:
    if cap == limits.max_file_bytes:
        return UploadError.at(field, f"'{name}' unpacks (gzip) to more than "
                              f"{size_text(limits.max_file_bytes)}; the limit is "
                              f"{size_text(limits.max_file_bytes)} per file")
    return UploadError.at(field, f"'{name}' unpacks (gzip) past the limit of "
                          f"{size_text(limits.max_total_bytes)} for the whole upload")
