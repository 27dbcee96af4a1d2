"""What kind of image a series holds, from its headers: T2 weighting, fat suppression, and
whether it is an original acquisition, a secondary capture, a derived map or projection, a
localizer or a non-magnitude image.

T2 weighting is decided from the acquisition, never from the echo time alone:

1. the sequence family — ScanningSequence (SE, IR, GR, EP, RM) or, in enhanced files,
   EchoPulseSequence (SPIN, GRADIENT, BOTH): echo-planar (EP) and gradient-echo-only (GR,
   GRADIENT) images are not T2-weighted structural images (DWI, fMRI, T2*, T1 GRE);
2. with both times known: EchoTime (or EffectiveEchoTime) ≥ 60 ms AND RepetitionTime ≥ 1500 ms
   makes a spin-echo (or inversion-recovery, or unknown-family) image T2-weighted; anything else
   is not (T1: short TE and TR; PD: long TR, short TE);
3. only when a time is missing: a ``T2`` word in SeriesDescription / ProtocolName /
   SequenceName (not ``T2*``) — the last resort.

Fat suppression: a ScanOptions value FS, SFS, SPAIR, SPIR, STIR, FSAT or containing FAT; a
SpectrallySelectedSuppression containing FAT; an inversion-recovery image with an inversion
time of 100–250 ms (STIR); a Dixon water image (ImageType value WATER); and, last, the
description keywords (FS as a word, FATSAT, FAT SAT, FATSUP, SPAIR, SPIR, STIR).
"""

from __future__ import annotations

import re

from cervixai.dicom.parse import SeriesFacts

T2_ECHO_TIME_MS = 60.0
T2_REPETITION_TIME_MS = 1500.0
STIR_INVERSION_MS = (100.0, 250.0)  # short-tau inversion recovery nulls fat at 1.5 T and 3 T
_T2_TEXT = re.compile(r"T2(?![*\d]|\s*\*|\s*STAR|MAP|_MAP)")
_FAT_SUPPRESSION_TEXT = re.compile(
    r"FAT.?SAT|FAT.?SUP|SPAIR|SPIR|STIR|(?<![A-Z])(?:T\d)?FS(?![A-Z])")
_FAT_OPTIONS = ("FS", "SFS", "SPAIR", "SPIR", "STIR", "FSAT", "FAT_SAT")
# ImageType values that make a DERIVED image a map or projection, not an anatomical image
DERIVED_MAPS = frozenset({
    "ADC", "EADC", "FA", "TRACEW", "TRACE", "EXP", "CALC_BV", "MIP", "MINIP", "MNIP",
    "PROJECTION IMAGE", "SUBTRACTION", "SUB", "MOCO", "T1 MAP", "T2 MAP", "T2_MAP", "T1_MAP",
    "R2", "R2STAR", "T2STAR_MAP", "CBF", "CBV", "MTT", "TTP", "PERFUSION", "COLLAPSE",
})
_NOT_MAGNITUDE = frozenset({"P", "PHASE", "R", "REAL", "I", "IMAGINARY", "PHASE MAP"})


def _words(text: str | None) -> list[str]:
    return [v.strip().upper() for v in (text or "").split("\\") if v.strip()]


def family(facts: SeriesFacts) -> str:
    """``EPI``, ``GRE``, ``SE`` (spin echo, incl. TSE/FSE and IR) or ``unknown``."""
    scanning = _words(facts.scanning_sequence)
    pulse = (facts.echo_pulse_sequence or "").strip().upper()
    if "EP" in scanning:
        return "EPI"
    if ("GR" in scanning and "SE" not in scanning and "IR" not in scanning) \
            or pulse == "GRADIENT":
        return "GRE"
    if set(scanning) & {"SE", "IR"} or pulse in ("SPIN", "BOTH"):
        return "SE"
    return "unknown"


def t2_weighted(facts: SeriesFacts) -> bool:
    """T2 weighting by the rule in the module docstring."""
    kind = family(facts)
    if kind in ("EPI", "GRE"):
        return False
    echo, repetition = facts.echo_time_ms, facts.repetition_time_ms
    if echo is not None and repetition is not None:
        return echo >= T2_ECHO_TIME_MS and repetition >= T2_REPETITION_TIME_MS
    text = " ".join(t for t in (facts.series_description, facts.protocol_name,
                                facts.sequence_name) if t).upper()
    return bool(_T2_TEXT.search(text))


def fat_suppressed(facts: SeriesFacts) -> bool:
    """Fat suppression by the rule in the module docstring."""
    options = _words(facts.scan_options)
    if any(o in _FAT_OPTIONS or "FAT" in o for o in options):
        return True
    if "FAT" in (facts.fat_suppression or "").upper():
        return True
    inversion = facts.inversion_time_ms
    if ("IR" in _words(facts.scanning_sequence) and inversion is not None
            and STIR_INVERSION_MS[0] <= inversion <= STIR_INVERSION_MS[1]):
        return True
    if "WATER" in _words(facts.image_type):
        return True
    text = " ".join(t for t in (facts.series_description, facts.protocol_name) if t).upper()
    return bool(_FAT_SUPPRESSION_TEXT.search(text))


def original(facts: SeriesFacts) -> bool:
    """ImageType says ORIGINAL\\PRIMARY (or is absent): ranked above derived or secondary
    images, which are read all the same (reformats, and exports that relabel their images)."""
    values = _words(facts.image_type)
    return not values or (values[0] == "ORIGINAL" and values[1:2] != ["SECONDARY"])


def not_anatomical(facts: SeriesFacts, sop_class_name: str) -> str | None:
    """Why the series is no anatomical image to segment, or None: secondary captures, derived
    maps and projections, localizers, and phase/real/imaginary images."""
    values = _words(facts.image_type)
    if "Secondary Capture" in sop_class_name:
        return f"secondary captures ({sop_class_name}), not acquired MR images"
    # DERIVED\SECONDARY alone is kept: reformats and re-exports say so of anatomical images
    if values and values[0] == "DERIVED" and set(values[2:]) & DERIVED_MAPS:
        return (f"a derived map or projection (ImageType {facts.image_type}), not an "
                f"anatomical image")
    if {"LOCALIZER", "SCOUT"} & set(values):
        return f"a localizer (ImageType {facts.image_type})"
    component = (facts.complex_component or "").strip().upper()
    if component and component not in ("MAGNITUDE", "MIXED"):
        return f"{component.lower()} images (ComplexImageComponent {component}), not magnitude"
    for value in values[2:4]:  # Siemens: ...\P\ND; Philips: ...\P_FFE\P\FFE
        if value in _NOT_MAGNITUDE or value[:2] in ("P_", "R_", "I_"):
            return (f"{_component_name(value[:1] if '_' in value else value)} images "
                    f"(ImageType {facts.image_type}), not magnitude")
    return None


def _component_name(value: str) -> str:
    return {"P": "phase", "R": "real", "I": "imaginary", "PHASE MAP": "phase"}.get(
        value, value.lower())
