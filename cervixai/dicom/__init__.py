"""DICOM ingestion: one MR series (files, a folder or a zip) → a normalised volume and geometry.

See docs/dicom-ingestion.md for the rules. The series writer lives in
:mod:`cervixai.dicom.writer` and is not imported here, so that serving code does not load it.
"""

from cervixai.dicom.errors import (
    DicomError,
    InconsistentSeriesError,
    NotDicomError,
    PixelDataError,
    UnsupportedSeriesError,
    UploadError,
)
from cervixai.dicom.geometry import Geometry, orientation_label
from cervixai.dicom.ingest import (
    IngestedSeries,
    SeriesInfo,
    load_series,
    load_series_from_path,
)
from cervixai.dicom.limits import IngestLimits
from cervixai.dicom.options import IngestOptions
from cervixai.dicom.sources import DicomSource, read_sources, sources_from_zip
from cervixai.grid import MODEL_MAX_SLICES

__all__ = [
    "MODEL_MAX_SLICES",
    "DicomError",
    "DicomSource",
    "Geometry",
    "InconsistentSeriesError",
    "IngestLimits",
    "IngestOptions",
    "IngestedSeries",
    "NotDicomError",
    "PixelDataError",
    "SeriesInfo",
    "UnsupportedSeriesError",
    "UploadError",
    "load_series",
    "load_series_from_path",
    "orientation_label",
    "read_sources",
    "sources_from_zip",
]
