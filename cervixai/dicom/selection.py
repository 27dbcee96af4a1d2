"""Grouping files into series, setting aside those that cannot be used, and choosing one.

Every series (SeriesInstanceUID) is first checked from its headers alone — no pixel data is
decoded — in the order of :func:`assess`; the first problem sets it aside, with that reason.
Among the usable series the one ranked highest by :data:`RULE` is read. Series are described to
people by SeriesNumber, SeriesDescription, orientation and image count — never by UID.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cervixai.dicom import contrast
from cervixai.dicom.errors import (
    DicomError,
    NotDicomError,
    UnsupportedSeriesError,
    UploadError,
    file_field,
)
from cervixai.dicom.frames import FrameHeader, frame_headers
from cervixai.dicom.geometry import orientation_label
from cervixai.dicom.limits import size_text
from cervixai.dicom.lossy import lossy_description
from cervixai.dicom.options import IngestOptions
from cervixai.dicom.parse import ImageObject, SkippedObject
from cervixai.dicom.pixels import check_pixel_module
from cervixai.dicom.stack import Stack, build_stack
from cervixai.errors import FieldViolation

RULE = ("preferring T2-weighted, then coronal, then fat-suppressed, then original (not "
        "derived) images, then the most slices, then the series sent first")
_FLOAT32_BYTES = 4


@dataclass(frozen=True)
class SeriesCandidate:
    """The image files of one SeriesInstanceUID, with the facts used to choose among series."""

    objects: tuple[ImageObject, ...]

    @property
    def first(self) -> ImageObject:
        return self.objects[0]

    @property
    def modality(self) -> str | None:
        return self.first.modality

    @property
    def images(self) -> int:
        return sum(o.number_of_frames for o in self.objects)

    @property
    def orientation(self) -> str:
        """The most common orientation label among the files (unknown without orientation)."""
        labels = Counter(
            orientation_label(np.cross(o.first_orientation[:3], o.first_orientation[3:]))
            for o in self.objects if o.first_orientation is not None)
        return labels.most_common(1)[0][0] if labels else "unknown"

    @property
    def t2_weighted(self) -> bool:
        return contrast.t2_weighted(self.first.facts)

    @property
    def fat_suppressed(self) -> bool:
        return contrast.fat_suppressed(self.first.facts)

    def rank(self) -> tuple[bool, bool, bool, bool, int, int]:
        return (self.t2_weighted, self.orientation == "coronal", self.fat_suppressed,
                contrast.original(self.first.facts), self.images, -self.first.index)

    def describe(self, *, traits: bool = False) -> str:
        facts = self.first.facts
        number = (f"series {facts.series_number}" if facts.series_number is not None
                  else "a series without SeriesNumber")
        text = f" '{facts.series_description}'" if facts.series_description else ""
        count = f"{self.images} slice{'s' if self.images != 1 else ''}"
        kind = ""
        if traits:
            kind = "; " + ("T2-weighted" if self.t2_weighted else "not T2-weighted") + \
                (", fat-suppressed" if self.fat_suppressed else "")
        return f"{number}{text} ({self.modality or 'no modality'}, {self.orientation}, " \
               f"{count}{kind})"


@dataclass(frozen=True)
class Assessed:
    """A series with its stack of slices when usable, or the problem that set it aside."""

    candidate: SeriesCandidate
    stack: Stack | None
    problem: DicomError | None

    @property
    def reason(self) -> str:
        return "; ".join(v.description for v in self.problem.violations) if self.problem \
            else ""


def group_series(objects: Sequence[ImageObject]) -> list[SeriesCandidate]:
    """One candidate per SeriesInstanceUID (files without one form one group), in upload order."""
    groups: dict[str | None, list[ImageObject]] = {}
    for obj in objects:
        groups.setdefault(obj.series_uid, []).append(obj)
    return [SeriesCandidate(tuple(group)) for group in groups.values()]


def check_one_study(objects: Sequence[ImageObject]) -> None:
    """Refuse an upload whose images belong to several patients (PatientID) or studies
    (StudyInstanceUID): choosing a series among them could assess the wrong patient. Files
    without the attribute are not counted; the identifiers are never quoted or logged."""
    patients = {o.patient_id for o in objects if o.patient_id}
    studies = {o.study_uid for o in objects if o.study_uid}
    if len(patients) > 1 or len(studies) > 1:
        what = (f"{len(patients)} patients" if len(patients) > 1
                else f"{len(studies)} studies")
        raise UploadError.at("dicom_files", f"the upload holds images of {what} (by PatientID "
                             f"and StudyInstanceUID); send one study")


def assess(candidate: SeriesCandidate, skipped: Sequence[SkippedObject],
           options: IngestOptions) -> Assessed:
    """Check a series from its headers, in the order documented in docs/dicom-ingestion.md §3:
    modality, kind of image, mosaic, pixel module, lossy (when refused), lost slices, frame
    geometry, orientations, one image per position and regular spacing, slice count, decoded
    size, the model's depth."""
    try:
        return Assessed(candidate, _checked_stack(candidate, skipped, options), None)
    except DicomError as e:
        return Assessed(candidate, None, e)


def _checked_stack(candidate: SeriesCandidate, skipped: Sequence[SkippedObject],
                   options: IngestOptions) -> Stack:
    objects = candidate.objects
    first = candidate.first
    if first.modality is None:
        raise UnsupportedSeriesError.at("series", "Modality (0008,0060) is missing; cervixai "
                                        "needs an MR series")
    if first.modality != "MR":
        raise UnsupportedSeriesError.at("series", f"modality {first.modality} is not "
                                        f"supported; cervixai needs an MR series")
    unusable = contrast.not_anatomical(first.facts, first.sop_class_name)
    if unusable:
        raise UnsupportedSeriesError.at("series", f"the series holds {unusable}; cervixai "
                                        f"needs an anatomical MR series")
    for obj in objects:
        if "MOSAIC" in (obj.facts.image_type or "").upper():
            raise UnsupportedSeriesError.at(
                obj.field_name, f"'{obj.name}' is a mosaic image (several slices tiled in one "
                f"frame); export the series as one image per slice")
    for obj in objects:
        check_pixel_module(obj, options.limits)
    if not options.accept_lossy:
        lossy = lossy_description(objects)
        if lossy:
            raise UnsupportedSeriesError.at("series", f"the series holds {lossy}; lossy "
                                            f"compression is refused here (accept_lossy=False)")
    _check_no_lost_slices(skipped, first.series_uid)
    frames = [h for obj in objects for h in frame_headers(obj)]
    _check_one_orientation(frames)
    stack = build_stack(frames)
    slices = len(stack.frames)
    if slices < options.min_slices:
        raise UnsupportedSeriesError.at("series", f"the series has {slices} slice(s); at least "
                                        f"{options.min_slices} are needed")
    decoded = slices * stack.rows * stack.columns * _FLOAT32_BYTES
    if decoded > options.limits.max_decoded_bytes:
        raise UnsupportedSeriesError.at(
            "series", f"the series would decode to {size_text(decoded)} ({slices} slices of "
            f"{stack.rows}×{stack.columns}); the limit is "
            f"{size_text(options.limits.max_decoded_bytes)} per series")
    limit = options.model_max_slices
    if limit is not None and slices > limit:
        raise UnsupportedSeriesError.at(
            "series", f"the series has {slices} slices but the segmentation model takes at most "
            f"{limit} (a limit of the model, not of DICOM ingestion); send a series of at most "
            f"{limit} slices, such as the coronal T2-weighted series")
    return stack


def _check_no_lost_slices(skipped: Sequence[SkippedObject], series_uid: str | None) -> None:
    """An image of the series without pixel data means a lost slice, not an extra file."""
    broken = [s for s in skipped if s.broken and s.series_uid == series_uid]
    if broken:
        raise NotDicomError([FieldViolation(
            file_field(s.index), f"'{s.name}' is an image of the series ({s.kind}); the file "
            f"is truncated or damaged") for s in broken])


def _check_one_orientation(frames: Sequence[FrameHeader]) -> None:
    """A localizer (or several stacks under one series) holds planes of several orientations."""
    labels = {orientation_label(np.cross(f.orientation[:3], f.orientation[3:]))
              for f in frames if f.orientation is not None}
    if len(labels) > 1:
        ordered = [x for x in ("sagittal", "coronal", "axial", "oblique") if x in labels]
        raise UnsupportedSeriesError.at(
            "series", f"the series holds images in {len(labels)} orientations "
            f"({', '.join(ordered)}): a localizer or several stacks, not one volume")


def choose_series(assessed: Sequence[Assessed],
                  strict: bool) -> tuple[Assessed, list[str]]:
    """The series to read and the warnings about the choice. One series: its problem is raised
    as it is. Several: in strict mode an error listing them; otherwise the best usable one, or
    one error listing every series and why it was set aside."""
    if len(assessed) == 1:
        [only] = assessed
        if only.problem is not None:
            raise only.problem
        return only, []
    if strict:
        listed = "; ".join(a.candidate.describe() for a in assessed)
        raise UnsupportedSeriesError.at(
            "series", f"the upload holds {len(assessed)} image series but exactly one is "
            f"expected: {listed}. Send only the coronal T2-weighted fat-suppressed series")
    usable = sorted((a for a in assessed if a.problem is None),
                    key=lambda a: a.candidate.rank(), reverse=True)
    aside = "; ".join(f"{a.candidate.describe()}: {a.reason}" for a in assessed
                      if a.problem is not None)
    if not usable:
        raise UnsupportedSeriesError.at(
            "series", f"none of the {len(assessed)} image series in the upload can be used: "
            f"{aside}. Send the coronal T2-weighted fat-suppressed series")
    chosen, *others = usable
    note = (f"the upload holds {len(assessed)} image series; used "
            f"{chosen.candidate.describe(traits=True)} ({RULE})")
    if others:
        note += "; usable but ranked lower: " + ", ".join(
            a.candidate.describe(traits=True) for a in others)
    if aside:
        note += f"; set aside: {aside}"
    return chosen, [note]
