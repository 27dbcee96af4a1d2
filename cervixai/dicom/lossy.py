"""Whether a series' pixels went through lossy compression, and how to say so.

A series is lossy when any file says LossyImageCompression ``01``, or uses a lossy-only transfer
syntax (JPEG Baseline, JPEG Extended), or uses a syntax that may be either and its codestream
says lossy: JPEG-LS with NEAR > 0 (1.2.840.10008.1.2.4.81), JPEG 2000 / HTJ2K with the
irreversible 9-7 wavelet (…4.91, …4.93, …4.203); when the codestream cannot be read, such a
syntax counts as lossy. Read with a warning by default, refused with
``IngestOptions(accept_lossy=False)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cervixai.dicom.parse import ImageObject
from cervixai.dicom.pixels import transfer_syntax_label

LOSSY_ONLY = frozenset({"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"})
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
JPEG_2000_EITHER = frozenset({"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.93",
                              "1.2.840.10008.1.2.4.203"})
_SCAN_BYTES = 64 * 1024  # the markers sit at the start of the first fragment
_J2K_START = b"\xff\x4f\xff\x51"  # SOC then SIZ
_J2K_COD = b"\xff\x52"
_JPEG_START = b"\xff\xd8"
_JPEG_SCAN = b"\xff\xda"


def lossy_description(objects: Sequence[ImageObject]) -> str | None:
    """A sentence fragment naming the lossy compression of a series, or None when lossless."""
    lossy = [o for o in objects if _is_lossy(o)]
    if not lossy:
        return None
    first = lossy[0]
    facts = first.facts
    syntaxes = ", ".join(dict.fromkeys(transfer_syntax_label(o.transfer_syntax) for o in lossy))
    details = [f"LossyImageCompression {facts.lossy_compression}"
               if facts.lossy_compression else None,
               f"ratio {facts.lossy_ratio}" if facts.lossy_ratio else None,
               f"method {facts.lossy_method}" if facts.lossy_method else None]
    shown = "; ".join(d for d in details if d)
    return (f"lossy-compressed pixel data ({len(lossy)} of {len(objects)} file(s), transfer "
            f"syntax {syntaxes}{'; ' + shown if shown else ''})")


def _is_lossy(obj: ImageObject) -> bool:
    if (obj.facts.lossy_compression or "").strip() == "01":
        return True
    syntax = str(obj.transfer_syntax)
    if syntax in LOSSY_ONLY:
        return True
    if syntax == JPEG_LS_NEAR_LOSSLESS:
        near = _jpeg_ls_near(_head(obj))
        return near is None or near > 0
    if syntax in JPEG_2000_EITHER:
        reversible = _j2k_reversible(_head(obj))
        return reversible is not True
    return False


def _head(obj: ImageObject) -> bytes:
    try:
        value = obj.dataset.get(obj.pixel_keyword)
        return bytes(value[:_SCAN_BYTES]) if isinstance(value, bytes | bytearray) else b""
    except Exception:  # unreadable pixel data is reported when it is decoded
        return b""


def _j2k_reversible(data: bytes) -> bool | None:
    """The COD marker's wavelet: 1 = reversible 5-3 (lossless), 0 = irreversible 9-7."""
    start = data.find(_J2K_START)
    cod = data.find(_J2K_COD, start + 4) if start >= 0 else -1
    # FF52, Lcod (2), Scod (1), SGcod (4), SPcod: levels, cb width, cb height, style, transform
    at = cod + 13
    if cod < 0 or at >= len(data):
        return None
    return data[at] == 1


def _jpeg_ls_near(data: bytes) -> int | None:
    """The NEAR parameter of the first JPEG-LS scan (0 = lossless)."""
    start = data.find(_JPEG_START)
    scan = data.find(_JPEG_SCAN, start + 2) if start >= 0 else -1
    if scan < 0 or scan + 5 > len(data):
        return None
    components = data[scan + 4]  # FFDA, Ls (2), Ns (1), then (Ci, Tmi) per component, NEAR
    at = scan + 5 + 2 * components
    return data[at] if at < len(data) else None
