"""The Segmenter servicer: proto ↔ numpy around :class:`services.segmenter.model.SegmenterModel`."""

from __future__ import annotations

from typing import Protocol

import grpc
import numpy as np
import numpy.typing as npt

from cervix.v1 import segmenter_pb2, segmenter_pb2_grpc
from cervixai.bundle import ModelEntry
from cervixai.errors import NotReady
from services.segmenter import metrics
from cervixai.wire import volume_from_proto
from services.segmenter.codec import Segmentation, segmentation_to_proto

SERVICE_NAME: str = segmenter_pb2.DESCRIPTOR.services_by_name["Segmenter"].full_name


class Model(Protocol):
    """What the servicer needs of the model (a SegmenterModel)."""

    ready_: bool
    provider_: str

    @property
    def entry(self) -> ModelEntry: ...

    def segment(self, volume: npt.NDArray[np.float32], spacing_mm: tuple[float, float, float],
                threshold: float = 0.0) -> Segmentation: ...


class SegmenterServicer(segmenter_pb2_grpc.SegmenterServicer):
    """Decode the volume, segment it, encode the mask and measurements."""

    def __init__(self, model: Model) -> None:
        self._model = model

    def Segment(self, request: segmenter_pb2.SegmentRequest,
                context: grpc.ServicerContext) -> segmenter_pb2.SegmentResponse:
        if not self._model.ready_:
            raise NotReady("the segmentation model is still loading")
        decoded = volume_from_proto(request.volume)
        result = self._model.segment(decoded.voxels, decoded.spacing_mm, request.threshold)
        provider = self._model.provider_
        metrics.INFERENCE_SECONDS.labels(provider).observe(result.inference_seconds)
        if not result.measurements.lesion_found:
            metrics.EMPTY_PREDICTIONS.inc()
        return segmentation_to_proto(result, provider=provider, entry=self._model.entry,
                                     with_probabilities=request.return_probabilities)
