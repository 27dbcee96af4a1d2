"""What a model's manifest entry says about the image features it was trained on.

* ``image_features_from``: ``segmenter`` (the masks serving sees), ``truth`` (the ground-truth
  ablation, which the services refuse to serve) or ``none`` (a clinical-only model);
* ``segmenter_version``: the sha256 of the segmenter ONNX file the features came from — the
  services refuse a model trained behind another segmenter than the bundle serves;
* ``image_feature_ranges``: the 0.5th–99.5th percentile of every radiomics feature over the
  training patients, so a request outside them is flagged (:mod:`cervixai.features.ranges`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cervixai.bundle import Bundle
from cervixai.features import FEATURE_NAMES, ImageFeatureValues
from cervixai.features.cohort import SEGMENTER, CohortFeatures

NONE = "none"
RANGE_PERCENTILES = (0.5, 99.5)


def image_provenance(source: CohortFeatures | None,
                     training: Sequence[ImageFeatureValues] | None) -> dict[str, Any]:
    """The entry's ``parameters`` that record where its image features came from."""
    if source is None:
        return {"image_features_from": NONE, "segmenter_version": None}
    out: dict[str, Any] = {"image_features_from": source.source,
                           "segmenter_version": source.segmenter_version}
    if training:
        values = np.array([[v.radiomics[n] for n in FEATURE_NAMES] for v in training])
        low, high = np.percentile(values, RANGE_PERCENTILES, axis=0)
        out["image_feature_ranges"] = {n: [round(float(a), 6), round(float(b), 6)]
                                       for n, a, b in zip(FEATURE_NAMES, low, high, strict=True)
                                       if n != "lesion_found"}
    return out


def segmenter_sha256(bundle: Bundle) -> str | None:
    """The sha256 of the bundle's segmenter ONNX file (None: the bundle has no segmenter)."""
    entry = bundle.models.get(SEGMENTER)
    return entry.files["model"].sha256 if entry is not None and "model" in entry.files else None


def serving_problem(name: str, parameters: Mapping[str, Any], uses_images: bool,
                    segmenter_sha256: str | None) -> str | None:
    """Why a model must not be served behind this bundle's segmenter, or None.

    ``segmenter_sha256`` is the sha256 of the bundle's segmenter ONNX file (None: no
    segmenter)."""
    if not uses_images:
        return None
    source = parameters.get("image_features_from")
    retrain = "retrain it with image features from this bundle's segmenter (cervixai train " \
              f"{name.split('.')[0]} --out BUNDLE)"
    if source != SEGMENTER:
        where = "ground-truth masks" if source else "masks of unrecorded origin"
        return (f"{name} was trained on image features of {where}, which serving never sees; "
                f"{retrain}")
    trained_behind = parameters.get("segmenter_version")
    if segmenter_sha256 is None:
        return f"{name} needs image features but the bundle has no segmenter"
    if trained_behind != segmenter_sha256:
        return (f"{name} was trained behind segmenter {str(trained_behind)[:12]}, the bundle "
                f"serves segmenter {segmenter_sha256[:12]}; {retrain}")
    return None
