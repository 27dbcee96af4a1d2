"""A cohort as survival data: validated records, (event, time) per outcome, image features.

Image features come from :mod:`cervixai.features.cohort` (one pipeline and one cache with the
classifier): by default from the bundle's segmenter, out of sample, with the ground-truth masks'
features beside them for the ideal-segmentation ablation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai.clinical import VARIABLES, ClinicalRecord, Stage, validate_record
from cervixai.cohort import format as cf
from cervixai.errors import InvalidInput
from cervixai.features import ImageFeatureValues
from cervixai.features.cohort import SEGMENTER, CohortFeatures, features_and_truth
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
    image_source: CohortFeatures | None = None           # where ``features`` came from
    truth: list[ImageFeatureValues] | None = None        # ground-truth-mask features (ablation)

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
            None if self.features is None else [self.features[i] for i in index], self.excluded,
            self.image_source,
            None if self.truth is None else [self.truth[i] for i in index])

    def with_truth_images(self) -> SurvivalData:
        """The same patients with ground-truth-mask image features (the ideal bound)."""
        if self.truth is None:
            raise ValueError("ground-truth-mask features were not computed for this cohort")
        return replace(self, features=self.truth)

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


def load(root: Path, *, images: bool, cache_dir: Path | None = None,
         image_source: str = SEGMENTER, segmenter_bundle: Path | None = None,
         workers: int = 1) -> SurvivalData:
    """Read ``root``; with ``images`` compute (or load cached) image features for every patient,
    from ``image_source`` (the segmenter of ``segmenter_bundle``, or the ground truth)."""
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
    source = truth = None
    if images:
        source, truth = features_and_truth(root, ids, source=image_source,
                                           segmenter_bundle=segmenter_bundle,
                                           cache_dir=cache_dir, workers=workers)
    return SurvivalData(root, ids, np.array([r["split"] for r in rows]), records, y, oracle,
                        None if source is None else source.values, excluded, source,
                        None if truth is None else truth.values)


