"""Image features shared by training and serving (one implementation, no train/serve skew).

From a normalised volume and a lesion mask:

* ``lesion_slice`` — the slice of largest lesion area, (256, 256) float32: the study's 65,536
  pixel features (feature set ``paper``);
* ``radiomics`` — the named descriptors of :mod:`cervixai.features.radiomics` (feature set
  ``radiomics``).

The third feature set, ``clinical``, uses no image. Each feature set adds the encoded clinical
record of :mod:`cervixai.clinical.encode` (the study's 5 preoperative or 57 postoperative
columns), so the ``paper`` vector has 65,541 or 65,593 values as in the study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cervix.v1 import common_pb2
from cervixai.errors import FieldViolation, InvalidInput
from cervixai.features.radiomics import FEATURE_NAMES, radiomics
from cervixai.features.shape import Measurements, largest_slice_index, measure
from cervixai.grid import SLICE_SHAPE
from cervixai.wire import tensor_from_proto, tensor_problems, tensor_to_proto

FEATURE_SETS = ("paper", "radiomics", "clinical")
F32 = npt.NDArray[np.float32]

__all__ = ["FEATURE_NAMES", "FEATURE_SETS", "ImageFeatureValues", "Measurements",
           "extract", "from_proto", "image_vector", "measure"]


@dataclass(frozen=True)
class ImageFeatureValues:
    lesion_found: bool
    slice_index: int
    lesion_slice: F32                 # (256, 256), the lesion slice or the middle slice
    radiomics: dict[str, float]

    def to_proto(self) -> common_pb2.ImageFeatures:
        message = common_pb2.ImageFeatures(
            lesion_found=self.lesion_found,
            lesion_slice=tensor_to_proto(np.asarray(self.lesion_slice, np.float32)))
        message.radiomics.update(self.radiomics)
        return message


def extract(volume: F32, mask: npt.NDArray[np.bool_],
            spacing_mm: tuple[float, float, float]) -> ImageFeatureValues:
    """Features of one series. Without a lesion the middle slice stands in for the lesion slice
    (the pixel models still get an image) and every radiomics feature is 0."""
    if volume.shape[1:] != SLICE_SHAPE:
        raise ValueError(f"volume slices must be {SLICE_SHAPE}, got {volume.shape[1:]}")
    k = largest_slice_index(mask)
    found = k >= 0
    index = k if found else volume.shape[0] // 2
    return ImageFeatureValues(found, index, np.ascontiguousarray(volume[index], np.float32),
                              radiomics(volume, mask, spacing_mm))


def from_proto(message: common_pb2.ImageFeatures, *, field: str = "image_features"
               ) -> ImageFeatureValues:
    """Validate an ImageFeatures message; InvalidInput names every problem."""
    tensor = message.lesion_slice
    problems = [(v.field, v.description) for v in tensor_problems(
        tensor, field=f"{field}.lesion_slice", shape=SLICE_SHAPE, dtype=common_pb2.DTYPE_FLOAT32)]
    missing = [n for n in FEATURE_NAMES if n not in message.radiomics]
    unknown = [n for n in message.radiomics if n not in FEATURE_NAMES]
    if missing:
        problems.append((f"{field}.radiomics", f"missing {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")))
    if unknown:
        problems.append((f"{field}.radiomics", f"unknown {', '.join(sorted(unknown)[:5])}"))
    values = {n: float(message.radiomics[n]) for n in FEATURE_NAMES if n in message.radiomics}
    if not all(np.isfinite(v) for v in values.values()):
        problems.append((f"{field}.radiomics", "values must be finite"))
    pixels = None
    if not problems:
        pixels = tensor_from_proto(tensor, field=f"{field}.lesion_slice").astype(np.float32)
        if not np.isfinite(pixels).all():
            problems.append((f"{field}.lesion_slice.data", "must be finite"))
    if problems:
        raise InvalidInput([FieldViolation(f, d) for f, d in problems])
    assert pixels is not None
    return ImageFeatureValues(bool(message.lesion_found), -1, pixels, values)


def image_vector(feature_set: str, features: ImageFeatureValues) -> F32:
    """The image part of a feature set's vector: 65,536 pixels, the radiomics in
    :data:`FEATURE_NAMES` order, or nothing (``clinical``)."""
    if feature_set == "paper":
        return features.lesion_slice.reshape(-1).astype(np.float32)
    if feature_set == "radiomics":
        return np.array([features.radiomics[n] for n in FEATURE_NAMES], dtype=np.float32)
    if feature_set == "clinical":
        return np.zeros(0, dtype=np.float32)
    raise ValueError(f"unknown feature set {feature_set!r}; expected one of {FEATURE_SETS}")
