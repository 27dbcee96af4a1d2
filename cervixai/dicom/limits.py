"""Bounds on what one ingestion reads, so that a hostile or mistaken upload cannot exhaust
memory, and how sizes are written in messages."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class IngestLimits:
    """Bounds on an upload, so that a hostile or mistaken one cannot exhaust memory.

    ``max_files`` counts the files that are read (skipped ones are not counted);
    ``max_total_bytes`` bounds their summed size and ``max_file_bytes`` each one, uncompressed.
    ``max_pixels_per_frame`` bounds Rows × Columns, and ``max_decoded_bytes`` each series
    decoded as float32 at its own matrix (slices × rows × columns × 4 bytes), both checked
    before any pixel data is decoded: 1 GiB takes 1024 slices of 512 × 512 or 256 of
    1024 × 1024, and refuses 512 slices of 1024 × 1024 (2 GiB). Gzip-compressed files count at
    their unpacked size.
    """

    max_files: int = 2000
    max_total_bytes: int = 50 * MIB
    max_file_bytes: int = 50 * MIB
    max_pixels_per_frame: int = 2048 * 2048
    max_decoded_bytes: int = 1024 * MIB

    def __post_init__(self) -> None:
        for name in ("max_files", "max_total_bytes", "max_file_bytes", "max_pixels_per_frame",
                     "max_decoded_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"IngestLimits.{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = IngestLimits()


def size_text(n: int) -> str:
    """A byte count for people: bytes, KiB, MiB or GiB."""
    if n >= 1024 * MIB:
        return f"{n / (1024 * MIB):.1f} GiB"
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"
