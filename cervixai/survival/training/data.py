"""A cohort as survival data: validated records, (event, time) per outcome, image features.

Image features cost ~0.35 s per patient (ingest, read the SEG mask, extract), so they are cached
per cohort in an ``.npz`` keyed by the sha256 of clinical.csv and the patient list.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai.clinical import VARIABLES, ClinicalRecord, Stage, validate_record
from cervixai.cohort import format as cf
from cervixai.errors import InvalidInput
from cervixai.features import FEATURE_NAMES, ImageFeatureValues
from cervixai.survival import OUTCOMES
from cervixai.survival.inputs import image_columns

log = logging.getLogger(__name__)
_SCHEMA = {v.name for v in VARIABLES}


@dataclass(frozen=True)
class SurvivalData:
    """One cohort, row-aligned: ``y[outcome]`` is a structured (event, time) array."""

    root: Path
    patient_ids: list[str]
    splits: npt.NDArray[np.str_]
    records: list[ClinicalRecord]
    y: dict[str, npt.NDArray[np.void]]
    oracle_risk: dict[str, npt.NDArray[np.float64]] | None
    features: list[ImageFeatureValues] | None
    excluded: list[str] = field(default_factory=list)   # why patients were left out

    @property
    def has_images(self) -> bool:
        return self.features is not None

    def subset(self, mask: npt.NDArray[np.bool_]) -> SurvivalData:
        index = np.flatnonzero(mask)
        return SurvivalData(
            self.root, [self.patient_ids[i] for i in index], self.splits[index],
            [self.records[i] for i in index], {k: v[index] for k, v in self.y.items()},
            None if self.oracle_risk is None else {k: v[index] for k, v in
                                                  self.oracle_risk.items()},
            None if self.features is None else [self.features[i] for i in index], self.excluded)

    def image_matrix(self, feature_set: str) -> npt.NDArray[np.float32]:
        if feature_set == "clinical":
            return np.zeros((len(self.records), 0), dtype=np.float32)
        if self.features is None:
            raise ValueError(f"feature set {feature_set!r} needs a cohort with images")
        return image_columns(feature_set, self.features)


def survival_array(event: npt.ArrayLike, time: npt.ArrayLike) -> npt.NDArray[np.void]:
    """The structured (event, time) array of scikit-survival (``sksurv.util.Surv``)."""
    e = np.asarray(event, dtype=bool)
    t = np.asarray(time, dtype=np.float64)
    y = np.empty(e.shape[0], dtype=[("event", "?"), ("time", "<f8")])
    y["event"], y["time"] = e, t
    return y


def load(root: Path, *, images: bool, cache_dir: Path | None = None) -> SurvivalData:
    """Read ``root``; with ``images`` compute (or load cached) image features for every patient."""
    _, all_rows = cf.read_csv(root / cf.CLINICAL_CSV)
    rows, records, excluded = [], [], []
    for row in all_rows:
        try:
            records.append(validate_record({k: v for k, v in row.items() if k in _SCHEMA},
                                           Stage.POSTOPERATIVE, prefix=row["patient_id"]))
            rows.append(row)
        except InvalidInput as e:
            excluded.append(str(e.violations[0]))
    if excluded:
        # `cervixai cohort check` lists these; training goes on without them, and says so.
        log.warning("%s: %d patient(s) excluded, their clinical record is not valid for a "
                    "postoperative assessment (first: %s)", root.name, len(excluded), excluded[0])
    if not rows:
        raise ValueError(f"{root / cf.CLINICAL_CSV} has no patient with a valid record")
    y = {o: survival_array([int(r[f"{o}_event"]) for r in rows],
                           [float(r[f"{o}_months"]) for r in rows]) for o in OUTCOMES}
    oracle = None
    if (root / cf.ORACLE_CSV).exists():
        _, oracle_rows = cf.read_csv(root / cf.ORACLE_CSV)
        by_id = {r["patient_id"]: r for r in oracle_rows}
        oracle = {o: np.array([float(by_id[r["patient_id"]][f"{o}_risk"]) for r in rows])
                  for o in OUTCOMES}
    ids = [r["patient_id"] for r in rows]
    features = _image_features(root, ids, cache_dir) if images else None
    return SurvivalData(root, ids, np.array([r["split"] for r in rows]), records, y, oracle,
                        features, excluded)


def cohort_has_images(root: Path) -> bool:
    return (root / cf.IMAGES_DIR).is_dir() and (root / cf.MASKS_DIR).is_dir()


def _cache_key(root: Path, ids: list[str]) -> str:
    digest = hashlib.sha256((root / cf.CLINICAL_CSV).read_bytes())
    digest.update("\n".join(ids).encode())
    return digest.hexdigest()[:16]


def _image_features(root: Path, ids: list[str], cache_dir: Path | None
                    ) -> list[ImageFeatureValues]:
    cache = None if cache_dir is None else cache_dir / f"features-{_cache_key(root, ids)}.npz"
    if cache is not None and cache.exists():
        with np.load(cache) as saved:
            if list(saved["patient_ids"]) == ids and list(saved["names"]) == list(FEATURE_NAMES):
                log.info("image features from cache %s", cache)
                return [ImageFeatureValues(bool(found), int(k), pixels,
                                           dict(zip(FEATURE_NAMES, map(float, values),
                                                    strict=True)))
                        for found, k, pixels, values in zip(
                            saved["found"], saved["slice_index"], saved["slices"],
                            saved["radiomics"], strict=True)]
    features = [_extract_one(root, pid) for pid in ids]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, patient_ids=np.array(ids), names=np.array(FEATURE_NAMES),
                 found=np.array([f.lesion_found for f in features]),
                 slice_index=np.array([f.slice_index for f in features]),
                 slices=np.stack([f.lesion_slice for f in features]),
                 radiomics=np.array([[f.radiomics[n] for n in FEATURE_NAMES] for f in features]))
        tmp.replace(cache)
    return features


def _extract_one(root: Path, patient_id: str) -> ImageFeatureValues:
    from cervixai.cohort.masks import read_mask
    from cervixai.dicom import load_series_from_path
    from cervixai.features import extract

    series = load_series_from_path(root / cf.IMAGES_DIR / patient_id)
    mask = read_mask(root / cf.MASKS_DIR / f"{patient_id}.dcm", series.geometry,
                     series.volume.shape)
    spacing = tuple(float(s) for s in series.geometry.spacing_mm)
    return extract(series.volume, mask, (spacing[0], spacing[1], spacing[2]))
