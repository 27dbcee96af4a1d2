"""The Volume message of an ingested series (masks are decoded by services.segmenter.codec)."""

from __future__ import annotations

import numpy as np

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
