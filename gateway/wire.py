"""Arrays ↔ wire messages for the gateway: volumes out, masks in."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cervix.v1 import common_pb2
from cervixai.dicom import IngestedSeries


def volume_message(series: IngestedSeries, *, with_voxels: bool = True) -> common_pb2.Volume:
    """The Volume message of an ingested series (float32 little-endian voxels + geometry)."""
    g = series.geometry
    message = common_pb2.Volume()
    message.geometry.slice_spacing_mm, message.geometry.row_spacing_mm, \
        message.geometry.column_spacing_mm = (float(s) for s in g.spacing_mm)
    message.geometry.origin_mm.extend(float(v) for v in g.origin_mm)
    message.geometry.row_direction.extend(float(v) for v in g.row_direction)
    message.geometry.column_direction.extend(float(v) for v in g.column_direction)
    message.geometry.slice_direction.extend(float(v) for v in g.slice_direction)
    if with_voxels:
        message.voxels.shape.extend(series.volume.shape)
        message.voxels.dtype = common_pb2.DTYPE_FLOAT32
        message.voxels.data = np.ascontiguousarray(series.volume, dtype="<f4").tobytes()
    return message


def decode_mask(mask: common_pb2.Mask) -> npt.NDArray[np.bool_]:
    """The boolean array of a Mask message (bit-packed or run-length encoded)."""
    shape = tuple(int(n) for n in mask.shape)
    count = int(np.prod(shape)) if shape else 0
    if mask.encoding == common_pb2.MASK_ENCODING_BITPACKED:
        bits = np.unpackbits(np.frombuffer(mask.data, dtype=np.uint8), count=count,
                             bitorder="little")
        return bits.astype(bool).reshape(shape)
    if mask.encoding == common_pb2.MASK_ENCODING_RLE_UINT32:
        runs = np.frombuffer(mask.data, dtype="<u4").astype(np.int64)
        if runs.sum() != count:
            raise ValueError(f"mask runs cover {runs.sum()} voxels, shape needs {count}")
        values = np.arange(len(runs)) % 2 == 1
        return np.repeat(values, runs).reshape(shape)
    raise ValueError(f"unsupported mask encoding {mask.encoding}")


def encode_mask(mask: npt.NDArray[np.bool_]) -> common_pb2.Mask:
    """The bit-packed Mask message of a boolean array."""
    message = common_pb2.Mask(encoding=common_pb2.MASK_ENCODING_BITPACKED)
    message.shape.extend(mask.shape)
    message.data = np.packbits(mask.ravel(order="C"), bitorder="little").tobytes()
    return message
