"""The segmenter's own reply: a :class:`Segmentation` as a SegmentResponse.

Tensors and volumes use the library's one wire codec (:mod:`cervixai.wire`), masks
:mod:`cervixai.masks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cervix.v1 import common_pb2, segmenter_pb2
from cervixai.bundle import ModelEntry
from cervixai.features import Measurements
from cervixai.masks import encode_mask
from cervixai.wire import tensor_to_proto

F32 = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]

@dataclass(frozen=True)
class Segmentation:
    """The segmenter's answer for one volume, as arrays."""

    mask: Bool
    probabilities: F32
    measurements: Measurements
    mean_probability: float
    threshold: float
    warnings: tuple[str, ...] = field(default=())


def segmentation_to_proto(result: Segmentation, *, provider: str, entry: ModelEntry,
                          with_probabilities: bool = False) -> segmenter_pb2.SegmentResponse:
    """The SegmentResponse for ``result`` (bit-packed mask)."""
    m = result.measurements
    k0, k1, i0, i1, j0, j1 = m.bounding_box
    reply = segmenter_pb2.SegmentResponse(
        mask=encode_mask(result.mask),
        measurements=common_pb2.LesionMeasurements(
            lesion_found=m.lesion_found, volume_ml=m.volume_ml,
            max_diameter_mm=m.max_diameter_mm, largest_slice_index=m.largest_slice_index,
            bounding_box=common_pb2.BoundingBox(slice_start=k0, slice_stop=k1, row_start=i0,
                                                row_stop=i1, column_start=j0, column_stop=j1),
            mean_probability=result.mean_probability, voxel_count=m.voxel_count),
        provider=provider,
        model=entry.to_proto(),
        warnings=list(result.warnings),
        threshold=result.threshold,
    )
    if with_probabilities:
        reply.probabilities.CopyFrom(tensor_to_proto(result.probabilities))
    return reply
