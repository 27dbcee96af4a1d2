"""Results in the standards a hospital files: the contour as DICOM SEG, measurements and risks as
a DICOM Comprehensive 3D SR (TID 1500), and a FHIR R4 Bundle (docs/results.md).

:func:`build_results` makes the requested ones from an assessment: the ingested series (its
:class:`~cervixai.dicom.source.SourceSlices`, kept in request memory), the mask on the model grid
and the reply. The objects carry the identifiers they need to be filed into the source study
(UIDs, the patient module of the source; the subject reference the caller gave): they exist only
in the request's memory and in the objects returned, never in a log line, a metric or a cache.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cervix.v1 import gateway_pb2
from cervixai.dicom.ingest import IngestedSeries

KINDS = ("dicom-seg", "dicom-sr", "fhir")
# highdicom logs the source datasets' UIDs ("copy Patient-related attributes from dataset
# <SOPInstanceUID>", INFO) and its warnings may quote them: only its errors are let through.
logging.getLogger("highdicom").setLevel(logging.ERROR)
DICOM_MEDIA_TYPE = "application/dicom"
FHIR_MEDIA_TYPE = "application/fhir+json"


@dataclass(frozen=True, repr=False)
class ResultObject:
    """One result object: its kind, media type, a file name and the encoded bytes."""

    kind: str
    media_type: str
    filename: str
    content: bytes

    def __repr__(self) -> str:  # never the content: it identifies the patient
        return f"ResultObject({self.kind}, {len(self.content)} bytes)"


def build_results(series: IngestedSeries, mask: npt.NDArray[np.bool_],
                  response: gateway_pb2.AssessResponse, kinds: Collection[str],
                  subject: str = "") -> list[ResultObject]:
    """The requested result objects, in the order of :data:`KINDS`. The SR references the SEG,
    so asking for the SR returns the SEG too: an SR filed without the SEG it cites would point
    the PACS at an instance it never receives."""
    from cervixai.results.fhir import build_fhir
    from cervixai.results.seg import build_seg
    from cervixai.results.sr import build_sr

    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown result kinds {unknown}; expected some of {list(KINDS)}")
    out: list[ResultObject] = []
    if {"dicom-seg", "dicom-sr"} & set(kinds):
        if series.source is None:
            raise ValueError("the series was ingested without its source instances")
        seg = build_seg(series.source, mask, response.segmentation.model)
        out.append(ResultObject("dicom-seg", DICOM_MEDIA_TYPE, "segmentation.dcm",
                                _encode(seg)))
        if "dicom-sr" in kinds:
            out.append(ResultObject("dicom-sr", DICOM_MEDIA_TYPE, "report.dcm",
                                    _encode(build_sr(series.source, seg, response))))
    if "fhir" in kinds:
        document = build_fhir(response, subject)
        out.append(ResultObject("fhir", FHIR_MEDIA_TYPE, "bundle.json",
                                json.dumps(document, indent=2).encode()))
    return out


def _encode(dataset: object) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)  # type: ignore[attr-defined]
    return buffer.getvalue()
