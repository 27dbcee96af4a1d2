"""One assessment: ingest and de-identify → segment → features → classify ∥ survival → response
→ the result objects asked for (DICOM SEG, DICOM SR, FHIR Bundle).

The pipeline knows nothing of HTTP or of the gateway's own gRPC server: both APIs turn their
request into one :class:`gateway.request.AssessmentRequest` (validated there, once), call
:meth:`Pipeline.assess`, and encode the ``AssessResponse`` it returns, so both give the same
validation and the same result. Nothing here re-validates the request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from cervix.v1 import (
    classifier_pb2,
    common_pb2,
    gateway_pb2,
    segmenter_pb2,
    survival_pb2,
)
from cervixai.clinical.schema import Stage
from cervixai.dicom import IngestedSeries, IngestLimits, IngestOptions, load_series
from cervixai.dicom.sources import sources_from_zip
from cervixai.errors import FieldViolation, InvalidInput
from cervixai.features import extract
from cervixai.grid import MODEL_MAX_SLICES
from cervixai.masks import decode_mask
from cervixai.results import build_results
from cervixai.wire import geometry_to_proto, volume_to_proto
from gateway.backends import Backends, InternalError
from gateway.metrics import STAGE_LATENCY, report_models
from gateway.request import PROTO_OF_KIND, AssessmentRequest, DicomUpload, new_request_id

log = logging.getLogger(__name__)

Reply = TypeVar("Reply")

NO_LESION = ("no lesion found: the risks rest on the clinical record and an image without a "
             "visible lesion")


@dataclass
class Assessment:
    """The result plus what the HTTP API needs for its preview (never stored)."""

    response: gateway_pb2.AssessResponse
    series: IngestedSeries | None = None
    mask: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Models:
    classified: classifier_pb2.ClassifyResponse
    survival: survival_pb2.SurvivalResponse | None


class _Clock:
    """The request's time budget and each stage's duration (also into the stage histogram)."""

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

    def timed(self, name: str, call: Callable[[float], Reply]) -> Reply:
        """``call(seconds_left)``, timed as stage ``name``."""
        started = time.monotonic()
        try:
            return call(self.remaining())
        finally:
            self.stage(name, started)


class Pipeline:
    """Orchestrates one assessment over the backends."""

    def __init__(self, backends: Backends, max_upload_bytes: int,
                 model_max_slices: int = MODEL_MAX_SLICES, max_ingestions: int = 2) -> None:
        self.backends = backends
        # DICOM reading decodes pixel data (up to the per-series limit each): at most this many
        # at once, so that the gateway's memory is bounded by design, not by the load
        self._ingestions = threading.BoundedSemaphore(max_ingestions)
        # the segmenter's depth limit, checked at ingestion so that a deeper series is the
        # caller's 400 (and, in a study, set aside for another series), not the segmenter's
        # refusal of a volume the gateway built
        self.options = IngestOptions(limits=IngestLimits(max_total_bytes=max_upload_bytes,
                                                         max_file_bytes=max_upload_bytes),
                                     model_max_slices=model_max_slices)
        self._parallel = ThreadPoolExecutor(max_workers=8, thread_name_prefix="gateway-fanout")

    def close(self) -> None:
        self._parallel.shutdown(wait=False, cancel_futures=True)

    def assess(self, request: AssessmentRequest, deadline_seconds: float,
               request_id: str | None = None) -> Assessment:
        """Run the pipeline within ``deadline_seconds``. Raises InvalidInput (the DICOM's
        problems, named as the caller named the upload), DependencyUnavailable, or
        InternalError (a backend refused what the gateway built, or a result object could not
        be built)."""
        clock = _Clock(deadline_seconds)
        series = clock.timed("ingest", lambda _: self._ingest(request.upload))
        segmented, mask = clock.timed("segment", lambda left: self._segment(series, left))
        features = clock.timed("features", lambda _: extract(
            series.volume, mask, series.geometry.spacing_mm).to_proto())
        models = clock.timed("models", lambda _: self._models(request, features, clock))
        response = _response(request_id or new_request_id(), request, series, segmented, models)
        # built from the finished answer (all but the timings, which include this step's)
        objects = (clock.timed("results", lambda _: _result_objects(request, series, mask,
                                                                    response))
                   if request.results else [])
        clock.timings["total"] = time.monotonic() - clock.start
        STAGE_LATENCY.labels("total").observe(clock.timings["total"])
        response.timings.extend(common_pb2.StageTiming(stage=k, seconds=v)
                                for k, v in clock.timings.items())
        response.result_objects.extend(objects)
        report_models({m.name: m.version for m in response.models})
        return Assessment(response, series, mask, clock.timings)

    def dicom_violations(self, upload: DicomUpload) -> list[FieldViolation]:
        """The problems of an upload's DICOM, for a request rejected at the edge (so that they
        are reported with the stage's and the record's); empty when it would load."""
        try:
            self._ingest(upload)
        except InvalidInput as e:
            return list(e.violations)
        return []

    def _ingest(self, upload: DicomUpload) -> IngestedSeries:
        """Read and de-identify the series; InvalidInput names the fields the caller sent."""
        try:
            with self._ingestions:
                sources = (sources_from_zip(upload.archive, limits=self.options.limits)
                           if upload.archive is not None else list(upload.files))
                return load_series(sources, options=self.options)
        except InvalidInput as e:
            raise InvalidInput([upload.caller_field(v) for v in e.violations]) from e

    def _segment(self, series: IngestedSeries, deadline_seconds: float
                 ) -> tuple[segmenter_pb2.SegmentResponse, np.ndarray]:
        request = segmenter_pb2.SegmentRequest(
            volume=volume_to_proto(series.volume, series.geometry))
        segmented = self.backends.segment(request, deadline_seconds)
        try:
            mask = decode_mask(segmented.mask)
        except InvalidInput as e:  # the segmenter's fault, not the caller's
            raise InternalError("segmenter", f"returned a malformed mask: {e}") from e
        if mask.shape != series.volume.shape:
            raise InternalError("segmenter", f"returned a {mask.shape} mask for a "
                                             f"{series.volume.shape} volume")
        return segmented, mask

    def _models(self, request: AssessmentRequest, features: common_pb2.ImageFeatures,
                clock: _Clock) -> _Models:
        """The classifier and, for postoperative studies, the survival service, in parallel."""
        classified = self._parallel.submit(
            clock.timed, "classify", lambda left: self.backends.classify(
                classifier_pb2.ClassifyRequest(stage=request.stage_proto,
                                               clinical=request.clinical,
                                               image_features=features), left))
        survival: Future[survival_pb2.SurvivalResponse] | None = None
        if request.stage is Stage.POSTOPERATIVE:
            survival = self._parallel.submit(
                clock.timed, "survival", lambda left: self.backends.predict_survival(
                    survival_pb2.SurvivalRequest(clinical=request.clinical,
                                                 image_features=features), left))
        return _Models(classified.result(), survival.result() if survival else None)


def _response(request_id: str, request: AssessmentRequest, series: IngestedSeries,
              segmented: segmenter_pb2.SegmentResponse, models: _Models
              ) -> gateway_pb2.AssessResponse:
    """The answer: series summary, segmentation, predictions, survival, warnings, models."""
    response = gateway_pb2.AssessResponse(request_id=request_id, stage=request.stage_proto)
    response.series.CopyFrom(_series_summary(series))
    response.segmentation.mask.CopyFrom(segmented.mask)
    response.segmentation.measurements.CopyFrom(segmented.measurements)
    response.segmentation.provider = segmented.provider
    response.segmentation.model.CopyFrom(segmented.model)
    response.predictions.extend(models.classified.predictions)
    warnings = [*series.warnings, *segmented.warnings]
    if not segmented.measurements.lesion_found:
        warnings.append(NO_LESION)
    warnings += models.classified.warnings
    identities = [segmented.model, *(p.model for p in models.classified.predictions)]
    if models.survival is not None:
        response.survival.extend(models.survival.estimates)
        warnings += models.survival.warnings
        identities += [e.model for e in models.survival.estimates]
    response.models.extend(_unique_models(identities))
    response.warnings.extend(dict.fromkeys(warnings))
    return response


def _result_objects(request: AssessmentRequest, series: IngestedSeries, mask: np.ndarray,
                    response: gateway_pb2.AssessResponse) -> list[gateway_pb2.ResultObject]:
    """The result objects ``request`` asks for, in the order of ``cervixai.results.KINDS``.

    The DICOM ones are built together (the SR references the SEG built with it), the FHIR
    Bundle on its own, so that a failure names the kinds it concerns. A failure is the
    gateway's (INTERNAL); it is logged with the kinds and the exception's type only: the
    message of highdicom's or pydicom's errors may quote UIDs or the patient module of the
    source.
    """
    groups = [g for g in ([k for k in request.results if k != "fhir"],
                          [k for k in request.results if k == "fhir"]) if g]
    out: list[gateway_pb2.ResultObject] = []
    for kinds in groups:
        try:
            built = build_results(series, mask, response, kinds, subject=request.subject)
        except Exception as e:
            log.error("building the %s result object(s) failed with %s", ", ".join(kinds),
                      type(e).__name__)
            # not chained (`from None`): the traceback logged by the API would print the
            # original exception's message, which may identify the patient
            raise InternalError("results", f"could not build the {', '.join(kinds)} result "
                                           f"object(s) ({type(e).__name__})") from None
        out += [gateway_pb2.ResultObject(kind=PROTO_OF_KIND[o.kind], media_type=o.media_type,
                                         filename=o.filename, content=o.content)
                for o in built]
    return out


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
