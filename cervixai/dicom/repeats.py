"""Several images at one position: a 4-D series (diffusion, dynamic, multi-echo) or duplicates.

cervixai reads one 3-D volume per series, so a series with more images than positions is
refused, and the message says what kind of series it is, from the headers alone, in this
order: the same instance sent twice (SOPInstanceUID); diffusion (b-values, diffusion
directionality or gradient directions, ImageType DIFFUSION — checked first because diffusion
series also vary in AcquisitionNumber or temporal position); several echoes (EchoNumbers,
EchoTime, EffectiveEchoTime); time points (TemporalPositionIdentifier/Index); acquisitions
(AcquisitionNumber / FrameAcquisitionNumber: fMRI, ASL, repeated scans). No volume is taken out
of a 4-D series: a b=0 or single-echo volume is an EPI or echo image with other contrast and
geometry than the structural series the models were trained on (see docs/dicom-ingestion.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cervixai.dicom.errors import InconsistentSeriesError
from cervixai.dicom.frames import FrameHeader

SAME_POSITION_MM = 0.01  # slices closer than this along the normal are at the same position


def check_one_image_per_position(ordered: Sequence[FrameHeader],
                                 distances: npt.NDArray[np.float64]) -> None:
    """Refuse, explaining the kind of series, when two frames share a position."""
    clusters = _positions(distances)
    if len(clusters) == len(ordered):
        return
    first = next(c for c in clusters if len(c) > 1)
    a, b = ordered[first[0]], ordered[first[1]]
    sizes = {len(c) for c in clusters}
    most = max(sizes)
    per_position = (f" ({most} volumes)" if len(sizes) == 1
                    else f" (1 to {most} images per position)")
    where = (f"{len(ordered)} images at {len(clusters)} position"
             f"{'s' if len(clusters) != 1 else ''}{per_position}: {b.label} lies at the same "
             f"position as {a.label} ({distances[first[1]]:.2f} mm along the slice normal)")
    repeated = [ordered[i] for c in clusters if len(c) > 1 for i in c]
    raise InconsistentSeriesError.at(b.field_name, f"{where}; {_why(a, b, repeated)}")


def _positions(distances: npt.NDArray[np.float64]) -> list[list[int]]:
    """Indices of sorted frames grouped by position (consecutive gaps below the tolerance)."""
    clusters: list[list[int]] = []
    for k in range(len(distances)):
        if k and distances[k] - distances[k - 1] < SAME_POSITION_MM:
            clusters[-1].append(k)
        else:
            clusters.append([k])
    return clusters


def _why(a: FrameHeader, b: FrameHeader, repeated: Sequence[FrameHeader]) -> str:
    if (a.source.sop_instance_uid and a.source.sop_instance_uid == b.source.sop_instance_uid
            and a.frame == b.frame):
        return "both are the same image (same SOPInstanceUID): remove the duplicate file"
    if any(f.diffusion for f in repeated) or len({f.b_value for f in repeated
                                                   if f.b_value is not None}) > 1:
        b_values = sorted({f.b_value for f in repeated if f.b_value is not None})
        listed = (f" (b-values {', '.join(f'{v:g}' for v in b_values)} s/mm²)"
                  if b_values else "")
        return (f"this is a diffusion series{listed} — cervixai reads one structural volume "
                f"per series; send the T2-weighted series")
    for pair, kind, advice in (
            ((a.echo, b.echo), "a multi-echo series", "export a single echo"),
            ((a.temporal, b.temporal), "a dynamic (time-resolved) series",
             "export a single time point"),
            ((a.acquisition, b.acquisition),
             "a dynamic (time-resolved) series or repeated acquisitions (fMRI, ASL, perfusion)",
             "export a single acquisition")):
        first, second = pair
        if first != second and (first or second):
            return (f"their {(first or second or ('', ''))[0]} differ ({_value(first)} vs "
                    f"{_value(second)}): this is {kind} — {advice}")
    return ("the series holds two images at one position (duplicate files, or several "
            "acquisitions under one series): send one image per position")


def _value(pair: tuple[str, str] | None) -> str:
    return "none" if pair is None else pair[1]
