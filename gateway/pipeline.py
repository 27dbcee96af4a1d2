"""One assessment: ingest and de-identify → segment → features → classify ∥ survival.

The pipeline knows nothing of HTTP or of the gateway's own gRPC server: both APIs decode their
request into an :class:`AssessmentInput`, call :meth:`Pipeline.assess`, and encode the
``AssessResponse`` it returns, so both give the same validation and the same result.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cervix.v1 import (
    classifier_pb2,
    clinical_pb2,
    common_pb2,
    gateway_pb2,
    segmenter_pb2,
    survival_pb2,
)
from cervixai.clinical.proto import record_from_proto
from cervixai.clinical.schema import Stage
from cervixai.dicom import DicomSource, IngestedSeries, IngestLimits, IngestOptions, load_series
from cervixai.dicom.sources import sources_from_zip
from cervixai.errors import FieldViolation, InvalidInput
from cervixai.features import extract
from cervixai.masks import decode_mask
from cervixai.wire import geometry_to_proto, volume_to_proto
from gateway.backends import Backends
from gateway.metrics import MODEL_INFO, STAGE_LATENCY

log = logging.getLogger(__name__)

STAGES: dict[int, Stage] = {common_pb2.STAGE_PREOPERATIVE: Stage.PREOPERATIVE,
                            common_pb2.STAGE_POSTOPERATIVE: Stage.POSTOPERATIVE}


@dataclass
class AssessmentInput:
    stage: Any                                   # a common_pb2.Stage value
    clinical: clinical_pb2.ClinicalRecord
    files: Sequence[DicomSource] = ()
    zip_data: bytes = b""
    # problems the API found while decoding the request (e.g. a clinical JSON object that could
    # not become a ClinicalRecord); reported together with those of the DICOM files
    decoding_violations: Sequence[FieldViolation] = ()


@dataclass
class Assessment:
    """The result plus what the HTTP API needs for its preview (never stored)."""

    response: gateway_pb2.AssessResponse
    series: IngestedSeries | None = None
    mask: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)


class _Clock:
    def __init__(self, budget_seconds: float) -> None:
        self.start = time.monotonic()
        self.budget = budget_seconds
        self.timings: dict[str, float] = {}

    def remaining(self) -> float:
        return self.budget - (time.monotonic() - self.start)

    def stage(self, name: str, started: float) -> None:
        elapsed = time.monotonic() - started
        self.timings[name] = elapsed
        STAGE_LATENCY.labels(name).observe(elapsed)


class Pipeline:
    """Orchestrates one assessment over the backends."""

    def __init__(self, backends: Backends, max_upload_bytes: int) -> None:
        self.backends = backends
        self.options = IngestOptions(limits=IngestLimits(max_total_bytes=max_upload_bytes,
                                                         max_file_bytes=max_upload_bytes))
        self._parallel = ThreadPoolExecutor(max_workers=8, thread_name_prefix="gateway-fanout")

    def close(self) -> None:
        self._parallel.shutdown(wait=False, cancel_futures=True)

    def assess(self, request: AssessmentInput, deadline_seconds: float,
               request_id: str | None = None) -> Assessment:
        """Run the pipeline within ``deadline_seconds``; raises InvalidInput (every problem of
        the stage, the clinical record and the DICOM files at once) or DependencyUnavailable."""
        clock = _Clock(deadline_seconds)
        request_id = request_id or uuid.uuid4().hex
        started = time.monotonic()
        if request.decoding_violations:
            stage, record_violations = None, list(request.decoding_violations)
        else:
            stage, record_violations = self._check_record(request)
        series, dicom_violations = self._ingest(request)
        if record_violations or dicom_violations:
            raise InvalidInput([*record_violations, *dicom_violations])
        assert stage is not None and series is not None
        clock.stage("ingest", started)
        warnings = list(series.warnings)

        started = time.monotonic()
        segmented = self.backends.segmenter.call(
            self.backends.segment,
            segmenter_pb2.SegmentRequest(volume=volume_to_proto(series.volume, series.geometry)),
            clock.remaining())
        clock.stage("segment", started)
        try:
            mask = decode_mask(segmented.mask)
        except InvalidInput as e:  # the segmenter's fault, not the caller's
            raise RuntimeError(f"the segmenter returned a malformed mask: {e}") from e
        if mask.shape != series.volume.shape:
            raise RuntimeError(f"segmenter returned a {mask.shape} mask for a "
                               f"{series.volume.shape} volume")
        warnings += list(segmented.warnings)

        started = time.monotonic()
        features = extract(series.volume, mask, series.geometry.spacing_mm).to_proto()
        clock.stage("features", started)
        if not segmented.measurements.lesion_found:
            warnings.append("no lesion found: the risks rest on the clinical record and an "
                            "image without a visible lesion")

        classify_request = classifier_pb2.ClassifyRequest(
            stage=request.stage, clinical=request.clinical, image_features=features)
        started = time.monotonic()
        classified = self._parallel.submit(
            self._timed, clock, "classify", self.backends.classifier.call,
            self.backends.classify, classify_request)
        survival = None
        if stage is Stage.POSTOPERATIVE:
            survival_request = survival_pb2.SurvivalRequest(clinical=request.clinical,
                                                            image_features=features)
            survival = self._parallel.submit(
                self._timed, clock, "survival", self.backends.survival.call,
                self.backends.predict_survival, survival_request)
        classify_reply: Any = classified.result()
        survival_reply: Any = survival.result() if survival is not None else None
        clock.stage("models", started)

        response = gateway_pb2.AssessResponse(request_id=request_id, stage=request.stage)
        response.series.CopyFrom(_series_summary(series))
        response.segmentation.mask.CopyFrom(segmented.mask)
        response.segmentation.measurements.CopyFrom(segmented.measurements)
        response.segmentation.provider = segmented.provider
        response.segmentation.model.CopyFrom(segmented.model)
        response.predictions.extend(classify_reply.predictions)
        warnings += list(classify_reply.warnings)
        models = [segmented.model, *(p.model for p in classify_reply.predictions)]
        if survival_reply is not None:
            response.survival.extend(survival_reply.estimates)
            warnings += list(survival_reply.warnings)
            models += [e.model for e in survival_reply.estimates]
        response.models.extend(_unique_models(models))
        response.warnings.extend(dict.fromkeys(warnings))
        clock.timings["total"] = time.monotonic() - clock.start
        STAGE_LATENCY.labels("total").observe(clock.timings["total"])
        response.timings.extend(common_pb2.StageTiming(stage=k, seconds=v)
                                for k, v in clock.timings.items())
        MODEL_INFO.info({m.name.replace(".", "_"): m.version for m in response.models})
        return Assessment(response, series, mask, clock.timings)

    @staticmethod
    def _timed(clock: _Clock, name: str, call: object, method: object, request: object) -> object:
        started = time.monotonic()
        try:
            return call(method, request, clock.remaining())  # type: ignore[operator]
        finally:
            clock.stage(name, started)

    @staticmethod
    def _check_record(request: AssessmentInput) -> tuple[Stage | None, list[FieldViolation]]:
        stage = STAGES.get(int(request.stage))
        if stage is None:
            return None, [FieldViolation("stage", "must be STAGE_PREOPERATIVE or "
                                                  "STAGE_POSTOPERATIVE")]
        try:
            record_from_proto(request.clinical, stage)
        except InvalidInput as e:
            return stage, list(e.violations)
        return stage, []

    def _ingest(self, request: AssessmentInput) -> tuple[IngestedSeries | None,
                                                          list[FieldViolation]]:
        if any(v.field.startswith("files") for v in request.decoding_violations):
            return None, []  # the API already said what is wrong with the upload
        if request.files and request.zip_data:
            return None, [FieldViolation("dicom_zip", "send DICOM files or one zip, not both")]
        try:
            sources = list(request.files) if request.files else (
                sources_from_zip(request.zip_data, limits=self.options.limits)
                if request.zip_data else [])
            return load_series(sources, options=self.options), []
        except InvalidInput as e:
            return None, list(e.violations)


def _series_summary(series: IngestedSeries) -> gateway_pb2.SeriesSummary:
    info = series.info
    summary = gateway_pb2.SeriesSummary(
        modality=info.modality, orientation=info.orientation, slices=series.volume.shape[0],
        original_rows=info.rows, original_columns=info.columns, in_plane_handling=info.in_plane,
        manufacturer=info.manufacturer or "", transfer_syntaxes=list(info.transfer_syntax_names))
    summary.geometry.CopyFrom(geometry_to_proto(series.geometry))
    return summary


def _unique_models(models: Sequence[common_pb2.ModelIdentity]) -> list[common_pb2.ModelIdentity]:
    seen: dict[tuple[str, str], common_pb2.ModelIdentity] = {}
    for m in models:
        seen.setdefault((m.name, m.version), m)
    return list(seen.values())
