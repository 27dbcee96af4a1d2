"""The wire encodings of a lesion mask (docs/wire-contract.md): ``MASK_ENCODING_BITPACKED`` and
``MASK_ENCODING_RLE_UINT32``. One implementation for the segmenter service that encodes masks and
the gateway and ``cervixai evaluate`` that decode them."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cervix.v1 import common_pb2
from cervixai.errors import InvalidInput

Bool = npt.NDArray[np.bool_]


def encode_mask(mask: Bool, encoding: int = common_pb2.MASK_ENCODING_BITPACKED
                ) -> common_pb2.Mask:
    """A boolean (slices, rows, columns) mask as a Mask message."""
    flat = np.ascontiguousarray(mask, dtype=bool).ravel()
    if encoding == common_pb2.MASK_ENCODING_BITPACKED:
        data = np.packbits(flat, bitorder="little").tobytes()
    elif encoding == common_pb2.MASK_ENCODING_RLE_UINT32:
        data = _runs(flat).astype("<u4").tobytes()
    else:
        raise ValueError(f"unknown mask encoding {encoding}")
    return common_pb2.Mask(shape=list(mask.shape), encoding=encoding,  # type: ignore[arg-type]
                           data=data)


def decode_mask(message: common_pb2.Mask, *, field: str = "mask") -> Bool:
    """The boolean array a Mask message holds (either encoding); InvalidInput when malformed."""
    shape = tuple(int(n) for n in message.shape)
    if not shape or any(n < 0 for n in shape):
        raise InvalidInput.single(f"{field}.shape", f"must be non-negative, got {list(shape)}")
    count = int(np.prod(shape, dtype=np.int64))
    if message.encoding == common_pb2.MASK_ENCODING_BITPACKED:
        if len(message.data) != (count + 7) // 8:
            raise InvalidInput.single(f"{field}.data", f"holds {len(message.data)} bytes; "
                                      f"{count} voxels bit-packed need {(count + 7) // 8}")
        bits = np.unpackbits(np.frombuffer(message.data, np.uint8), count=count,
                             bitorder="little")
        return bits.astype(bool).reshape(shape)
    if message.encoding == common_pb2.MASK_ENCODING_RLE_UINT32:
        if len(message.data) % 4:
            raise InvalidInput.single(f"{field}.data", "RLE data must be whole uint32 values")
        runs = np.frombuffer(message.data, "<u4").astype(np.int64)
        if int(runs.sum()) != count:
            raise InvalidInput.single(f"{field}.data", f"runs sum to {int(runs.sum())}, the "
                                      f"shape has {count} voxels")
        values = np.arange(len(runs)) % 2 == 1
        return np.repeat(values, runs).reshape(shape)
    raise InvalidInput.single(f"{field}.encoding", f"unsupported encoding {message.encoding}")


def _runs(flat: Bool) -> npt.NDArray[np.int64]:
    """Alternating run lengths starting with background (possibly 0)."""
    if flat.size == 0:
        return np.zeros(1, np.int64)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds)
    if flat[0]:
        runs = np.concatenate([[0], runs])
    return runs.astype(np.int64)
