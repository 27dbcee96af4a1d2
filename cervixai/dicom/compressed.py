"""Gzip-compressed DICOM files (``IM0001.dcm.gz``, or any file starting with the gzip magic
bytes) are unpacked transparently, in folders, zip archives, single files and uploads.

Files in the Deflated Explicit VR Little Endian transfer syntax are inflated by pydicom as a
whole when read, so their inflated size is counted first, the same way (:func:`inflated_size`),
against the same limits: a 9 KB file that would inflate to 8 MiB of pixel data counts 8 MiB.

Unpacking is bounded like zip entries: at most the per-file limit and what is left of the
total limit, counted while decompressing in 1 MiB steps (a gzip header's size field is not
trusted), so a gzip bomb stops at the limit. Concatenated gzip members are read in turn; a
nested gzip is not unpacked again.
"""

from __future__ import annotations

import struct
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


def _over_limit(name: str, field: str, limits: IngestLimits, cap: int, how: str = "gzip"
                ) -> UploadError:
    if cap == limits.max_file_bytes:
        return UploadError.at(field, f"'{name}' unpacks ({how}) to more than "
                              f"{size_text(limits.max_file_bytes)}; the limit is "
                              f"{size_text(limits.max_file_bytes)} per file")
    return UploadError.at(field, f"'{name}' unpacks ({how}) past the limit of "
                          f"{size_text(limits.max_total_bytes)} for the whole upload")


DEFLATED = b"1.2.840.10008.1.2.1.99"
_META_START = 132   # the 128-byte preamble and "DICM"


def deflated_offset(data: bytes) -> int | None:
    """Where the deflated data set starts, for a Part 10 file whose transfer syntax is Deflated
    Explicit VR Little Endian (read from its file meta group); None for any other file."""
    if data[128:132] != b"DICM" or data[_META_START:_META_START + 6] != b"\x02\x00\x00\x00UL":
        return None
    (group_length,) = struct.unpack_from("<I", data, _META_START + 8)
    end = _META_START + 12 + group_length
    meta = data[_META_START:end]
    at = meta.find(b"\x02\x00\x10\x00UI")
    if at < 0 or end > len(data):
        return None
    (length,) = struct.unpack_from("<H", meta, at + 6)
    syntax = meta[at + 8:at + 8 + length].rstrip(b"\x00 ")
    return end if syntax == DEFLATED else None


def inflated_size(data: bytes, *, name: str, field: str, limits: IngestLimits, budget: int
                  ) -> int:
    """The size of a deflated file once inflated (its file meta plus the inflated data set),
    counted in 1 MiB steps and discarded: :class:`UploadError` past the per-file limit or
    ``budget``. A file that is not deflated counts its own size; a deflate stream that is
    damaged counts what inflated before the damage (reading it then says what is wrong)."""
    offset = deflated_offset(data)
    if offset is None:
        return len(data)
    cap = min(limits.max_file_bytes, budget)
    size = offset
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        chunk = inflater.decompress(data[offset:], _CHUNK_BYTES)
        while True:
            size += len(chunk)
            if size > cap:
                raise _over_limit(name, field, limits, cap, "Deflated transfer syntax")
            if inflater.eof or not inflater.unconsumed_tail:
                break
            chunk = inflater.decompress(inflater.unconsumed_tail, _CHUNK_BYTES)
    except zlib.error:
        pass
    return size
