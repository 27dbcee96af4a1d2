"""Grouping files into series and choosing the one to read when an upload holds several.

The choice prefers, in this order: MR, coronal orientation, T2 weighting, fat suppression, and
then the most slices (ties: the series whose first file came first). Series are described to
people by SeriesNumber, SeriesDescription and slice count — never by UID.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cervixai.dicom.errors import UnsupportedSeriesError
from cervixai.dicom.geometry import orientation_label
from cervixai.dicom.parse import ImageObject

T2_ECHO_TIME_MS = 60.0  # a long echo time makes a spin-echo image T2-weighted
_T2_TEXT = re.compile(r"T2")
_FAT_SUPPRESSION_TEXT = re.compile(
    r"FAT.?SAT|FAT.?SUP|SPAIR|SPIR|STIR|(?<![A-Z])(?:T\d)?FS(?![A-Z])")
RULE = "preferring MR, then coronal, then T2-weighted, then fat-suppressed, then the most slices"


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
    def slices(self) -> int:
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
        facts = self.first.facts
        text = " ".join(t for t in (facts.series_description, facts.protocol_name,
                                    facts.sequence_name) if t).upper()
        echo = facts.echo_time_ms
        return bool(_T2_TEXT.search(text)) or (echo is not None and echo >= T2_ECHO_TIME_MS)

    @property
    def fat_suppressed(self) -> bool:
        facts = self.first.facts
        options = [o.strip().upper() for o in (facts.scan_options or "").split("\\")]
        if any(o in ("FS", "SPAIR", "SPIR", "STIR") or "FAT" in o for o in options):
            return True
        if "FAT" in (facts.fat_suppression or "").upper():
            return True
        text = " ".join(t for t in (facts.series_description, facts.protocol_name) if t).upper()
        return bool(_FAT_SUPPRESSION_TEXT.search(text))

    def rank(self) -> tuple[bool, bool, bool, bool, int, int]:
        return (self.modality == "MR", self.orientation == "coronal", self.t2_weighted,
                self.fat_suppressed, self.slices, -self.first.index)

    def describe(self) -> str:
        facts = self.first.facts
        number = (f"series {facts.series_number}" if facts.series_number is not None
                  else "a series without SeriesNumber")
        text = f" '{facts.series_description}'" if facts.series_description else ""
        return (f"{number}{text} ({self.modality or 'no modality'}, {self.orientation}, "
                f"{self.slices} slice{'s' if self.slices != 1 else ''})")


def group_series(objects: Sequence[ImageObject]) -> list[SeriesCandidate]:
    """One candidate per SeriesInstanceUID (files without one form one group), in upload order."""
    groups: dict[str | None, list[ImageObject]] = {}
    for obj in objects:
        groups.setdefault(obj.series_uid, []).append(obj)
    return [SeriesCandidate(tuple(group)) for group in groups.values()]


def choose_series(candidates: Sequence[SeriesCandidate],
                  strict: bool) -> tuple[SeriesCandidate, list[str]]:
    """The series to read and the warnings about the choice; in strict mode several series are
    an error listing them."""
    if len(candidates) == 1:
        return candidates[0], []
    listed = "; ".join(c.describe() for c in candidates)
    if strict:
        raise UnsupportedSeriesError.at(
            "series", f"the upload holds {len(candidates)} image series but exactly one is "
            f"expected: {listed}. Send only the coronal T2-weighted fat-suppressed series")
    chosen = max(candidates, key=SeriesCandidate.rank)
    others = ", ".join(c.describe() for c in candidates if c is not chosen)
    return chosen, [f"the upload holds {len(candidates)} image series; used "
                    f"{chosen.describe()} ({RULE}) and ignored {others}"]
