"""The errors that DICOM ingestion raises, all of them :class:`cervixai.errors.InvalidInput`.

Hierarchy::

    InvalidInput
    └── DicomError                   anything wrong with the DICOM that a caller sent
        ├── UploadError              the upload as a whole: limits, zip archive, unreadable path
        ├── NotDicomError            a file is not DICOM, is truncated, or has an unreadable header
        ├── UnsupportedSeriesError   readable DICOM that cervixai cannot use (modality, colour,
        │                            several series in strict mode, too many slices)
        ├── InconsistentSeriesError  slices that do not form one regular volume (matrix, spacing,
        │                            orientation, duplicate positions, gaps)
        └── PixelDataError           pixels that cannot be decoded or carry no image

Each error carries field violations named ``dicom_files[i]`` (``i`` indexes the sources given to
:func:`cervixai.dicom.load_series`), ``series`` (the series as a whole) or ``archive`` / ``path``
(the upload). Descriptions are shown to clinicians and integrators: they name the file by the
name it was uploaded under and never quote an identifying DICOM value.
"""

from __future__ import annotations

from typing import Self

from cervixai.errors import FieldViolation, InvalidInput


class DicomError(InvalidInput):
    """Base of every DICOM ingestion problem."""

    @classmethod
    def at(cls, field: str, description: str) -> Self:
        """This error class with one violation; typed as the subclass, unlike ``single``."""
        return cls(FieldViolation(field, description))


class UploadError(DicomError):
    """The upload as a whole is unusable: over a limit, a broken archive, a missing path."""


class NotDicomError(DicomError):
    """A file is not DICOM, is truncated, or its header cannot be read."""


class UnsupportedSeriesError(DicomError):
    """Readable DICOM that cervixai cannot use."""


class InconsistentSeriesError(DicomError):
    """The slices do not form one regular volume."""


class PixelDataError(DicomError):
    """Pixel data that cannot be decoded, or that decodes to no usable image."""


def file_field(index: int) -> str:
    """The field name of the ``index``-th uploaded file."""
    return f"dicom_files[{index}]"
