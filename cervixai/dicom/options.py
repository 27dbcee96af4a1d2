"""What :func:`cervixai.dicom.load_series` accepts: the model's depth, lossy pixels, strictness
and the upload limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from cervixai.dicom.limits import IngestLimits
from cervixai.grid import MODEL_MAX_SLICES

# The segmentation model's depth: the segmenter refuses deeper volumes itself
# (CERVIXAI_SEGMENTER_MAX_SLICES, default 64). Ingestion reads any depth within
# IngestLimits.max_decoded_bytes; a deeper series is set aside for this model, with a message
# that says the limit is the model's, so that the caller gets a 400 and not the segmenter's
# refusal of a volume the gateway built.


@dataclass(frozen=True)
class IngestOptions:
    """What :func:`load_series` accepts and produces.

    ``model_max_slices``: the most slices the model that reads the volume takes (None: any);
    ``min_slices``: the fewest slices accepted; ``strict_single_series``: refuse an upload with
    several image series instead of choosing one; ``accept_lossy``: read lossy-compressed
    series with a warning (True) or set them aside (False); ``limits``: see IngestLimits.
    """

    model_max_slices: int | None = MODEL_MAX_SLICES
    min_slices: int = 1
    strict_single_series: bool = False
    accept_lossy: bool = True
    limits: IngestLimits = field(default_factory=IngestLimits)

    def __post_init__(self) -> None:
        if self.min_slices < 1 or (self.model_max_slices is not None
                                   and self.model_max_slices < self.min_slices):
            raise ValueError(f"need 1 <= min_slices <= model_max_slices, got {self.min_slices} "
                             f"and {self.model_max_slices}")
