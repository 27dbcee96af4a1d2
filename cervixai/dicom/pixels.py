"""Pixel data: decoding, refusing what decoders silently get wrong, rescaling and normalising.

Decoding goes through ``Dataset.pixel_array`` (pydicom 3 with the pylibjpeg plugins, its own RLE
and deflate support). A decoder that fails without raising typically returns zeros, so a frame
that decodes to all zeros is refused, and so is a volume that is constant or not finite.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_modality_lut
from pydicom.uid import UID, RLELossless

from cervixai.dicom.errors import PixelDataError, UnsupportedSeriesError
from cervixai.dicom.frames import FrameHeader
from cervixai.dicom.limits import IngestLimits
from cervixai.dicom.parse import ImageObject

logger = logging.getLogger(__name__)

GREYSCALE = ("MONOCHROME1", "MONOCHROME2")
UPPER_PERCENTILE = 99.5
_NATIVE_BITS = {"FloatPixelData": 32, "DoubleFloatPixelData": 64}  # PixelData: BitsAllocated


def transfer_syntax_label(uid: UID) -> str:
    """``'<uid> (<name>)'``, or ``'<uid> (unknown transfer syntax)'``."""
    name = uid.name if uid.name != str(uid) else "unknown transfer syntax"
    return f"{uid} ({name})"


def check_pixel_module(source: ImageObject, limits: IngestLimits) -> None:
    """Refuse, before decoding, pixels that cervixai cannot use or that would exhaust memory."""
    where, name = source.field_name, source.name
    if source.samples_per_pixel != 1 or (source.photometric or "MONOCHROME2") not in GREYSCALE:
        raise UnsupportedSeriesError.at(
            where, f"'{name}' is a colour image (SamplesPerPixel {source.samples_per_pixel}, "
            f"PhotometricInterpretation {source.photometric}); cervixai needs greyscale "
            f"(MONOCHROME1/2) MR images")
    rows, columns = source.rows or 0, source.columns or 0
    if rows < 1 or columns < 1:
        raise PixelDataError.at(where, f"'{name}' has no valid Rows/Columns ({rows}×{columns})")
    if rows * columns > limits.max_pixels_per_frame:
        raise PixelDataError.at(where, f"the {rows}×{columns} matrix of '{name}' exceeds the "
                                f"limit of {limits.max_pixels_per_frame} pixels per frame")
    syntax = source.transfer_syntax
    try:
        available = get_decoder(syntax).is_available
    except (NotImplementedError, ValueError):
        available = False
    if not available:
        raise PixelDataError.at(where, f"the pixel data of '{name}' uses transfer syntax "
                                f"{transfer_syntax_label(syntax)}, which cervixai cannot "
                                f"decode; export the series uncompressed or with a lossless "
                                f"JPEG, JPEG-LS, JPEG 2000 or RLE syntax")
    if not syntax.is_encapsulated:
        _check_native_length(source)


def _check_native_length(source: ImageObject) -> None:
    where, name = source.field_name, source.name
    bits = _NATIVE_BITS.get(source.pixel_keyword) or source.bits_allocated or 0
    if bits not in (1, 8, 16, 32, 64):
        raise PixelDataError.at(where, f"BitsAllocated of '{name}' is {bits}; expected 1, 8, "
                                f"16, 32 or 64")
    frames = f"{source.rows}×{source.columns}×{source.number_of_frames} frame(s)"
    expected = ((source.rows or 0) * (source.columns or 0) * source.number_of_frames * bits
                + 7) // 8
    if source.pixel_bytes < expected:
        raise PixelDataError.at(where, f"the pixel data of '{name}' holds {source.pixel_bytes} "
                                f"bytes but {frames} at {bits} bits need {expected}; the file "
                                f"is truncated or damaged")


def decode_frames(source: ImageObject) -> npt.NDArray[np.generic]:
    """All frames of one file as an array shaped (frames, rows, columns)."""
    where, name = source.field_name, source.name
    label = transfer_syntax_label(source.transfer_syntax)
    try:
        if source.transfer_syntax == RLELossless:
            # pydicom's own RLE decoder: pylibjpeg-rle panics (stderr backtrace) on damaged data
            source.dataset.pixel_array_options(decoding_plugin="pydicom")
        pixels = np.asarray(source.dataset.pixel_array)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as e:  # decoders raise anything on damaged data; a Rust plugin's panic
        logger.debug("pixel decoding failed: %s", type(e).__name__)  # is a BaseException
        raise PixelDataError.at(where, f"the pixel data of '{name}' (transfer syntax {label}) "
                                f"cannot be decoded: {_reason(e)}") from e
    expected = (source.number_of_frames, source.rows, source.columns)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.shape != expected:
        raise PixelDataError.at(where, f"the pixel data of '{name}' (transfer syntax {label}) "
                                f"decoded to shape {pixels.shape}, expected {expected}")
    return pixels


def _reason(error: BaseException) -> str:
    """A decoder's own message: about pixel encoding only, never element values; kept short."""
    text = " ".join(str(error).split())
    return (text[:240] + "…") if len(text) > 240 else (text or type(error).__name__)


def rescaled(raw: npt.NDArray[np.generic], frame: FrameHeader) -> npt.NDArray[np.float64]:
    """One decoded frame in real-world values (float64): all-zero and non-finite frames refused."""
    where = frame.field_name
    if not np.any(raw):
        label = transfer_syntax_label(frame.source.transfer_syntax)
        raise PixelDataError.at(where, f"pixel data of {frame.label} decoded to all zeros "
                                f"(transfer syntax {label}); the file or its decoder is broken")
    ds = frame.source.dataset
    if frame.source.number_of_frames == 1 and "ModalityLUTSequence" in ds:
        try:
            values = np.asarray(apply_modality_lut(raw, ds), dtype=np.float64)
        except Exception as e:  # a damaged LUT: pydicom raises anything
            raise PixelDataError.at(where, f"the Modality LUT of {frame.label} cannot be "
                                    f"applied") from e
    else:
        slope, intercept = frame.rescale
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below
            values = raw.astype(np.float64) * slope + intercept
    if not np.all(np.isfinite(values)):
        raise PixelDataError.at(where, f"pixel data of {frame.label} holds values that are not "
                                f"finite (NaN or infinity) after rescaling")
    return values


def invert_monochrome1(volume: npt.NDArray[np.float64],
                       photometrics: Sequence[str | None]) -> npt.NDArray[np.float64]:
    """MONOCHROME1 displays low values bright; mirror it so that bright means high, as in
    MONOCHROME2. The mirror keeps the value range."""
    kinds = {p or "MONOCHROME2" for p in photometrics}
    if len(kinds) > 1:
        raise UnsupportedSeriesError.at("series", "the series mixes MONOCHROME1 and MONOCHROME2 "
                                        "images")
    if kinds == {"MONOCHROME1"}:
        return float(volume.max()) + float(volume.min()) - volume
    return volume


def normalise(volume: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float32], float, float]:
    """Map to [0, 1]: low = minimum, high = 99.5th percentile (robust to bright outliers),
    clipped. Returns the float32 C-contiguous volume and (low, high)."""
    low = float(volume.min())
    high = float(np.percentile(volume, UPPER_PERCENTILE))
    if high <= low:  # mostly background: the percentile sits on the minimum
        high = float(volume.max())
    if high <= low:
        raise PixelDataError.at("series", f"every voxel of the series has the same value "
                                f"({low:g}); it holds no image")
    scaled = np.clip((volume - low) / (high - low), 0.0, 1.0)
    return np.ascontiguousarray(scaled, dtype=np.float32), low, high
