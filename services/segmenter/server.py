"""The Segmenter servicer: proto ↔ numpy around :class:`services.segmenter.model.SegmenterModel`."""

from __future__ import annotations

import grpc

from cervix.v1 import segmenter_pb2, segmenter_pb2_grpc
from cervixai.wire import volume_from_proto
from services.segmenter import metrics
from services.segmenter.codec import segmentation_to_proto
from services.segmenter.model import SegmenterModel


class SegmenterServicer(segmenter_pb2_grpc.SegmenterServicer):
    """Decode the volume, segment it, encode the mask and measurements."""

    def __init__(self, model: SegmenterModel) -> None:
        self._model = model

    def Segment(self, request: segmenter_pb2.SegmentRequest,
                context: grpc.ServicerContext) -> segmenter_pb2.SegmentResponse:
        decoded = volume_from_proto(request.volume)
        result = self._model.segment(decoded.voxels, decoded.spacing_mm, request.threshold)
        if not result.measurements.lesion_found:
            metrics.EMPTY_PREDICTIONS.inc()
        return segmentation_to_proto(result, provider=self._model.provider,
                                     entry=self._model.entry,
                                     with_probabilities=request.return_probabilities)
