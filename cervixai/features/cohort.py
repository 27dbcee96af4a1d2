"""Image features of a whole cohort for training: one pipeline for the classifier and survival.

Serving computes a patient's image features from the *segmenter's* mask. Models trained on
features of the cohort's ground-truth masks learn what a perfect contour looks like and then read
an imperfect one as an irregular, heterogeneous — high-risk — lesion. So by default training sees
the masks serving will see: each series is ingested as the gateway ingests it, contoured by the
bundle's exported segmenter exactly as the service runs it (threshold, largest-component rule),
and :func:`cervixai.features.extract` runs on that mask. The segmenter must not have been trained
on the patients it contours (see :func:`segmenter_overlap`); the default bundle's segmenter was
trained on a cohort of its own.

Features from the ground-truth masks (``truth``) are computed in the same pass: they are the
ideal-segmentation ablation the reports show beside the served figures, and the Dice of every
contour comes for free.

Results are cached in one ``.npz`` per cohort and source, keyed by the cohort's clinical.csv, the
source (``truth`` or the segmenter's sha256), the feature names and the sha256 of the feature
code itself, so a change to a feature's definition never reuses stale values.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cervixai import __version__
from cervixai.bundle import load_bundle, sha256_of
from cervixai.cohort import format as cf
from cervixai.features import FEATURE_NAMES, ImageFeatureValues, extract

log = logging.getLogger(__name__)

SEGMENTER = "segmenter"
TRUTH = "truth"
SOURCES = (SEGMENTER, TRUTH)
DESCRIPTIONS = {
    SEGMENTER: "the bundle's segmenter, out of sample (the masks serving sees)",
    TRUTH: "the cohort's ground-truth masks (the ideal-segmentation ablation)",
}
_FEATURE_CODE = ("__init__.py", "radiomics.py", "shape.py")


class FeatureSourceError(ValueError):
    """Image features cannot come from the asked source (no segmenter, an in-sample one)."""


@dataclass(frozen=True)
class CohortFeatures:
    """Every patient's image features from one mask source, in ``patient_ids`` order."""

    source: str                          # SEGMENTER or TRUTH
    segmenter_version: str | None        # the segmenter's ONNX sha256 (SEGMENTER only)
    patient_ids: list[str]
    values: list[ImageFeatureValues]
    dice: list[float] | None = None      # segmenter mask against the truth, per patient

    def describe(self) -> str:
        detail = DESCRIPTIONS[self.source]
        if self.segmenter_version:
            detail += f", segmenter {self.segmenter_version[:12]}"
        return detail


def add_image_feature_options(parser: argparse.ArgumentParser) -> None:
    """The options ``cervixai train classifier`` and ``train survival`` share."""
    parser.add_argument("--image-features", choices=SOURCES, default=SEGMENTER,
                        help="lesion masks of the training features: segmenter (default; the "
                             "bundle's segmenter, which must not have been trained on this "
                             "cohort) or truth (ground-truth masks: an ablation the services "
                             "refuse to serve)")
    parser.add_argument("--segmenter-bundle", type=Path, default=None,
                        help="the bundle whose segmenter contours the cohort (default: --out)")
    parser.add_argument("--ideal-bound", action=argparse.BooleanOptionalAction, default=True,
                        help="also refit each chosen image model on ground-truth-mask features "
                             "and report its test AUC/C-index (the ideal-segmentation bound)")


def cohort_has_images(root: Path) -> bool:
    """Whether ``root`` has series and ground-truth masks (and its manifest does not deny it)."""
    manifest = root / cf.MANIFEST
    if manifest.exists() and json.loads(manifest.read_text()).get("images") is False:
        return False
    return (root / cf.IMAGES_DIR).is_dir() and (root / cf.MASKS_DIR).is_dir()


def segmenter_overlap(root: Path, segmenter_bundle: Path) -> str | None:
    """Why the bundle's segmenter would contour ``root`` in sample, or None.

    A segmenter trained on this very cohort has seen its training patients' masks: their
    features would be better than anything serving produces."""
    entry = load_bundle(segmenter_bundle).entry(SEGMENTER)
    trained_on = entry.training_data.get("clinical.csv_sha256")
    if trained_on and trained_on == sha256_of(root / cf.CLINICAL_CSV):
        return (f"the segmenter of {segmenter_bundle} was trained on this cohort "
                f"({root.name}); its masks of the training patients are in sample")
    return None


def cohort_features(root: Path, ids: Sequence[str], *, source: str,
                    segmenter_bundle: Path | None = None, cache_dir: Path,
                    workers: int = 1) -> CohortFeatures:
    """Image features of ``ids`` from ``source`` (cached; segmenter and truth in one pass)."""
    if source not in SOURCES:
        raise FeatureSourceError(f"unknown image-feature source {source!r}; expected one of "
                                 f"{', '.join(SOURCES)}")
    version = None
    if source == SEGMENTER:
        if segmenter_bundle is None:
            raise FeatureSourceError("image features from the segmenter need a bundle with a "
                                     "segmenter entry")
        bundle = load_bundle(segmenter_bundle)
        if SEGMENTER not in bundle.models:
            raise FeatureSourceError(
                f"bundle {segmenter_bundle} has no segmenter: train it first (cervixai train "
                f"segmenter --out {segmenter_bundle} ...) or use ground-truth masks "
                "(--image-features truth)")
        overlap = segmenter_overlap(root, segmenter_bundle)
        if overlap:
            raise FeatureSourceError(f"{overlap}; train the segmenter on other patients, or "
                                     "use --image-features truth for an ablation")
        version = bundle.entry(SEGMENTER).files["model"].sha256
    ids = list(ids)
    cached = _read(_cache_path(root, cache_dir, source, version), ids)
    if cached is not None:
        log.info("image features (%s) from cache", source)
        return cached
    computed = _compute(root, ids, segmenter_bundle if source == SEGMENTER else None, workers)
    for features in computed:
        _write(_cache_path(root, cache_dir, features.source, features.segmenter_version),
               features)
    return next(f for f in computed if f.source == source)


def features_and_truth(root: Path, ids: Sequence[str], *, source: str,
                       segmenter_bundle: Path | None, cache_dir: Path | None, workers: int = 1
                       ) -> tuple[CohortFeatures, CohortFeatures]:
    """The training features from ``source`` and, beside them, the ground-truth ones (the
    ideal-segmentation ablation; the same object when ``source`` is the truth). The cache
    defaults to ``.cervixai-cache/features`` beside the cohort."""
    cache = cache_dir or root.parent / ".cervixai-cache" / "features"
    served = cohort_features(root, ids, source=source, segmenter_bundle=segmenter_bundle,
                             cache_dir=cache, workers=workers)
    truth = served if source == TRUTH else cohort_features(root, ids, source=TRUTH,
                                                           cache_dir=cache, workers=workers)
    return served, truth


def _feature_code_digest() -> str:
    digest = hashlib.sha256(__version__.encode())
    here = Path(__file__).parent
    for name in _FEATURE_CODE:
        digest.update((here / name).read_bytes())
    digest.update(",".join(FEATURE_NAMES).encode())
    return digest.hexdigest()


def _cache_path(root: Path, cache_dir: Path, source: str, version: str | None) -> Path:
    key = hashlib.sha256("|".join([sha256_of(root / cf.CLINICAL_CSV), source, version or "",
                                   _feature_code_digest()]).encode()).hexdigest()[:16]
    return cache_dir / f"{root.name}-{source}-{key}.npz"


def _read(path: Path, ids: list[str]) -> CohortFeatures | None:
    if not path.exists():
        return None
    with np.load(path) as saved:
        if list(saved["patient_ids"]) != ids or list(saved["names"]) != list(FEATURE_NAMES):
            return None
        values = [ImageFeatureValues(bool(found), int(k), np.asarray(pixels, np.float32),
                                     dict(zip(FEATURE_NAMES, map(float, row), strict=True)))
                  for found, k, pixels, row in zip(saved["found"], saved["slice_index"],
                                                   saved["slices"], saved["radiomics"],
                                                   strict=True)]
        version = str(saved["segmenter_version"]) or None
        dice = [float(d) for d in saved["dice"]] if saved["dice"].size else None
        return CohortFeatures(str(saved["source"]), version, ids, values, dice)


def _write(path: Path, features: CohortFeatures) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    values = features.values
    np.savez(tmp, patient_ids=np.array(features.patient_ids), names=np.array(FEATURE_NAMES),
             source=np.array(features.source),
             segmenter_version=np.array(features.segmenter_version or ""),
             found=np.array([v.lesion_found for v in values]),
             slice_index=np.array([v.slice_index for v in values]),
             slices=np.stack([v.lesion_slice for v in values]),
             radiomics=np.array([[v.radiomics[n] for n in FEATURE_NAMES] for v in values]),
             dice=np.array(features.dice if features.dice is not None else [], dtype=float))
    tmp.replace(path)


# -- the computation, in worker processes ----------------------------------------------------------

_worker: dict[str, Any] = {}


def _start_worker(segmenter_bundle: Path | None, threads: int) -> None:
    if segmenter_bundle is not None:
        from cervixai.segmentation.inference import BundleSegmenter

        _worker["segmenter"] = BundleSegmenter.load(segmenter_bundle, intra_op_threads=threads)


def _patient(job: tuple[Path, str]) -> tuple[ImageFeatureValues, ImageFeatureValues | None,
                                              float | None]:
    """Truth features, segmenter features and Dice of one patient."""
    from cervixai.cohort.masks import read_mask
    from cervixai.dicom import load_series_from_path

    root, pid = job
    series = load_series_from_path(root / cf.IMAGES_DIR / pid)
    truth = read_mask(root / cf.MASKS_DIR / f"{pid}.dcm", series.geometry, series.volume.shape)
    s = series.geometry.spacing_mm
    spacing = (float(s[0]), float(s[1]), float(s[2]))
    truth_features = extract(series.volume, truth, spacing)
    segmenter = _worker.get("segmenter")
    if segmenter is None:
        return truth_features, None, None
    mask = segmenter.mask(series.volume)
    return truth_features, extract(series.volume, mask, spacing), dice(mask, truth)


def patient_features(root: Path, patient_id: str) -> ImageFeatureValues:
    """One patient's image features from its ground-truth mask (uncached)."""
    _worker.clear()
    return _patient((root, patient_id))[0]


def dice(predicted: np.ndarray[Any, Any], truth: np.ndarray[Any, Any]) -> float:
    """Dice of two masks; 1 when both are empty (a lesion-free patient with nothing found)."""
    total = int(predicted.sum()) + int(truth.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(predicted, truth).sum()) / total


def _compute(root: Path, ids: list[str], segmenter_bundle: Path | None, workers: int
             ) -> list[CohortFeatures]:
    log.info("computing image features of %d patients (%s)", len(ids),
             "segmenter and ground-truth masks" if segmenter_bundle else "ground-truth masks")
    jobs = [(root, pid) for pid in ids]
    cores = os.cpu_count() or 1
    workers = max(1, min(workers, len(ids)))
    threads = max(1, cores // workers)
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=_start_worker,
                                 initargs=(segmenter_bundle, threads)) as pool:
            results = list(pool.map(_patient, jobs, chunksize=2))
    else:
        _start_worker(segmenter_bundle, threads)
        try:
            results = [_patient(job) for job in jobs]
        finally:
            _worker.clear()
    out = [CohortFeatures(TRUTH, None, ids, [r[0] for r in results])]
    if segmenter_bundle is not None:
        version = load_bundle(segmenter_bundle).entry(SEGMENTER).files["model"].sha256
        out.append(CohortFeatures(SEGMENTER, version, ids,
                                  [r[1] for r in results if r[1] is not None],
                                  [float(r[2]) for r in results if r[2] is not None]))
    return out
