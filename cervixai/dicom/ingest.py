"""One MR series in, one normalised (depth, 256, 256) volume out, with its exact geometry.

The steps, each documented in docs/dicom-ingestion.md: unpack gzip files; parse every file;
skip objects without an image; group by SeriesInstanceUID; set aside, from headers alone, the
series that cannot be used (not MR, derived, mosaic, colour, 4-D, localizer, too large...) and
choose among the rest; order the slices along the slice normal and check they form a regular
volume; decode, rescale and fit each slice to 256 × 256 (as is, centre crop of 320 × 320, or
linear resampling); normalise intensities to [0, 1]. Every problem raises a
:class:`~cervixai.dicom.errors.DicomError` (an :class:`~cervixai.errors.InvalidInput`). Only
whitelisted, non-identifying facts leave this module.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai.dicom import contrast
from cervixai.dicom.errors import NotDicomError, UnsupportedSeriesError, UploadError
from cervixai.dicom.geometry import (
    Geometry,
    InPlaneFit,
    InPlaneHandling,
    Orientation,
    orientation_label,
    plan_in_plane,
)
from cervixai.dicom.lossy import lossy_description
from cervixai.dicom.options import IngestOptions
from cervixai.dicom.parse import ImageObject, SkippedObject, parse_source
from cervixai.dicom.pixels import decode_frames, invert_monochrome1, normalise, rescaled
from cervixai.dicom.quiet import quiet_pydicom
from cervixai.dicom.selection import (
    SeriesCandidate,
    assess,
    check_one_study,
    choose_series,
    group_series,
)
from cervixai.dicom.source import SourceSlices
from cervixai.dicom.sources import DicomSource, check_upload_size, gunzip_sources, scan_path
from cervixai.dicom.stack import Stack
from cervixai.errors import FieldViolation

logger = logging.getLogger(__name__)

_LISTED_NAMES = 5  # how many skipped file names a warning quotes


DEFAULT_OPTIONS = IngestOptions()


@dataclass(frozen=True)
class SeriesInfo:
    """Non-identifying facts about the series read: no names, IDs, dates, places or UIDs."""

    modality: str
    sop_class: str
    orientation: Orientation
    rows: int
    columns: int
    number_of_slices: int
    transfer_syntax_uids: tuple[str, ...]
    transfer_syntax_names: tuple[str, ...]
    manufacturer: str | None
    model_name: str | None
    magnetic_field_strength_t: float | None
    series_number: int | None
    series_description: str | None
    echo_time_ms: float | None
    repetition_time_ms: float | None
    slice_thickness_mm: float | None
    photometric_interpretation: str
    in_plane: InPlaneHandling
    intensity_scale: tuple[float, float]  # (low, high) real-world values mapped to 0 and 1


@dataclass(frozen=True, eq=False, repr=False)
class IngestedSeries:
    """A normalised volume ready for the segmentation network, its geometry and provenance."""

    volume: npt.NDArray[np.float32]  # (depth, 256, 256), values in [0, 1], C-contiguous
    geometry: Geometry
    info: SeriesInfo
    warnings: tuple[str, ...]
    # the source instances per slice, for result objects filed next to them: identifying, so
    # request memory only (never repr'd, logged or cached); None where no source is kept
    source: SourceSlices | None = None

    def __repr__(self) -> str:
        shape = "×".join(str(n) for n in self.volume.shape)
        return (f"IngestedSeries(volume=<float32 {shape}>, geometry={self.geometry!r}, "
                f"info={self.info!r}, warnings={self.warnings!r})")


def load_series_from_path(path: str | Path, *,
                          options: IngestOptions = DEFAULT_OPTIONS) -> IngestedSeries:
    """:func:`read_sources` then :func:`load_series`; skipped non-DICOM files become a warning."""
    sources, skipped = scan_path(path, limits=options.limits)
    if not sources:
        raise UploadError.at("path", f"no DICOM files were found in '{path}'"
                             + (f" ({len(skipped)} other files were skipped)" if skipped else ""))
    series = load_series(sources, options=options)
    if not skipped:
        return series
    note = (f"skipped {len(skipped)} file(s) that are not DICOM images: "
            f"{_quote(skipped)}")
    return dataclasses.replace(series, warnings=(*series.warnings, note))


def load_series(sources: Sequence[DicomSource], *,
                options: IngestOptions = DEFAULT_OPTIONS) -> IngestedSeries:
    """Read one MR series from uploaded files; raise a DicomError (InvalidInput) naming the file
    (``dicom_files[i]``) or the ``series`` for every problem."""
    sources = list(sources)
    if not sources:
        raise UploadError.at("dicom_files", "no files were sent; send the DICOM files of one MR "
                             "series")
    quiet_pydicom()  # again: a catch_warnings block around the caller may have dropped it
    check_upload_size(sources, options.limits)
    sources = gunzip_sources(sources, options.limits)
    images, skipped = _parse_all(sources)
    warnings: list[str] = []
    if not images:
        kinds = ", ".join(sorted({s.kind for s in skipped}))
        raise UnsupportedSeriesError.at("dicom_files", f"none of the {len(sources)} files holds "
                                        f"an image (found: {kinds}); send an MR image series")
    if skipped:
        warnings.append(f"skipped {len(skipped)} DICOM object(s) without an image: "
                        f"{_quote([f'{s.name} ({s.kind})' for s in skipped])}")
    check_one_study(images)
    assessed = [assess(c, skipped, options) for c in group_series(images)]
    chosen, notes = choose_series(assessed, options.strict_single_series)
    warnings += notes
    stack = chosen.stack
    assert stack is not None  # a usable series has its stack
    warnings += _kind_warnings(chosen.candidate)
    warnings += stack.warnings
    fit = plan_in_plane(stack.rows, stack.columns, stack.spacing_mm[1], stack.spacing_mm[2])
    raw = invert_monochrome1(_volume(stack, fit),
                             [o.photometric for o in chosen.candidate.objects])
    volume, low, high = normalise(raw)
    geometry = Geometry(
        spacing_mm=(stack.spacing_mm[0], fit.row_spacing_mm, fit.column_spacing_mm),
        origin_mm=fit.origin(stack.first_position_mm, stack.row_direction,
                             stack.column_direction),
        row_direction=stack.row_direction, column_direction=stack.column_direction,
        slice_direction=stack.slice_direction)
    orientation = orientation_label(stack.slice_direction)
    if orientation != "coronal":
        warnings.append(f"series is {orientation}; the models were trained on coronal series")
    if fit.handling == "resampled":
        warnings.append(f"in-plane matrix {fit.rows}×{fit.columns} was resampled to "
                        f"{fit.size}×{fit.size} over the full field of view; the models were "
                        f"trained on 256×256 and centre-cropped 320×320 acquisitions")
    info = _series_info(chosen.candidate.objects, stack, fit, orientation, (low, high))
    # DEBUG: training ingests thousands of series, and the gateway's audit line covers a request.
    logger.debug("ingested an MR series: %d slices, %s, %s in-plane, %d warning(s)",
                volume.shape[0], orientation, fit.handling, len(warnings))
    source = SourceSlices(tuple(f.source.dataset for f in stack.frames),
                          tuple(f.frame for f in stack.frames), fit)
    return IngestedSeries(volume, geometry, info, tuple(warnings), source)


def _parse_all(sources: Sequence[DicomSource]) -> tuple[list[ImageObject], list[SkippedObject]]:
    """Parse every file, reporting every unreadable one at once."""
    images: list[ImageObject] = []
    skipped: list[SkippedObject] = []
    violations: list[FieldViolation] = []
    for index, source in enumerate(sources):
        try:
            parsed = parse_source(index, source)
        except NotDicomError as e:
            violations.extend(e.violations)
            continue
        if isinstance(parsed, ImageObject):
            images.append(parsed)
        else:
            skipped.append(parsed)
    if violations:
        raise NotDicomError(violations)
    return images, skipped


def _kind_warnings(series: SeriesCandidate) -> list[str]:
    """What the reader of the result should know about the chosen series' images."""
    warnings = []
    if not series.t2_weighted:
        facts = series.first.facts
        timing = ", ".join(t for t in (
            f"EchoTime {facts.echo_time_ms:g} ms" if facts.echo_time_ms is not None else "",
            f"RepetitionTime {facts.repetition_time_ms:g} ms"
            if facts.repetition_time_ms is not None else "",
            f"{contrast.family(series.first.facts)} sequence") if t)
        warnings.append(f"{series.describe()} is not T2-weighted by its headers ({timing}); "
                        f"the models were trained on T2-weighted fat-suppressed series")
    lossy = lossy_description(series.objects)
    if lossy:
        warnings.append(f"{series.describe()} holds {lossy}; fine detail and intensities may "
                        f"differ from the acquisition")
    return warnings


def _volume(stack: Stack, fit: InPlaneFit) -> npt.NDArray[np.float64]:
    """Decode every frame in stack order, rescale it and fit it in-plane (float64)."""
    out = np.empty((len(stack.frames), fit.size, fit.size), dtype=np.float64)
    decoded: dict[int, npt.NDArray[np.generic]] = {}
    remaining = {f.source.index: 0 for f in stack.frames}
    for f in stack.frames:
        remaining[f.source.index] += 1
    for k, frame in enumerate(stack.frames):
        index = frame.source.index
        if index not in decoded:
            decoded[index] = decode_frames(frame.source)
        out[k] = fit.apply(rescaled(decoded[index][frame.frame], frame))
        remaining[index] -= 1
        if not remaining[index]:
            del decoded[index]  # keep one file's pixels in memory, not the whole series
    return out


def _series_info(objects: Sequence[ImageObject], stack: Stack, fit: InPlaneFit,
                 orientation: Orientation, scale: tuple[float, float]) -> SeriesInfo:
    first = objects[0]
    facts = first.facts
    syntaxes = list(dict.fromkeys(o.transfer_syntax for o in objects))
    return SeriesInfo(
        modality=first.modality or "MR",
        sop_class=first.sop_class_name,
        orientation=orientation,
        rows=stack.rows,
        columns=stack.columns,
        number_of_slices=len(stack.frames),
        transfer_syntax_uids=tuple(str(s) for s in syntaxes),
        transfer_syntax_names=tuple(s.name for s in syntaxes),
        manufacturer=facts.manufacturer,
        model_name=facts.model_name,
        magnetic_field_strength_t=facts.field_strength_t,
        series_number=facts.series_number,
        series_description=facts.series_description,
        echo_time_ms=facts.echo_time_ms,
        repetition_time_ms=facts.repetition_time_ms,
        slice_thickness_mm=facts.slice_thickness_mm,
        photometric_interpretation=first.photometric or "MONOCHROME2",
        in_plane=fit.handling,
        intensity_scale=scale,
    )


def _quote(names: Sequence[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return shown + (f" and {more} more" if more > 0 else "")

