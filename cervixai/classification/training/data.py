"""A cohort folder as training data: validated records, labels, split, oracle, image features.

Image features come from :mod:`cervixai.features.cohort`: by default from the bundle's
segmenter, out of sample (the masks serving will see), with the ground-truth masks' features
beside them for the ideal-segmentation ablation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai.classification.inputs import InputLayout, model_input
from cervixai.clinical import VARIABLES, ClinicalRecord, Stage, validate_record
from cervixai.cohort import format as cf
from cervixai.errors import InvalidInput
from cervixai.features import ImageFeatureValues
from cervixai.features.cohort import (
    SEGMENTER,
    CohortFeatures,
    cohort_has_images,
    features_and_truth,
)

log = logging.getLogger(__name__)


@dataclass
class CohortData:
    """Everything the classifiers need from one cohort, in clinical.csv row order."""

    root: Path
    patient_ids: list[str]
    split: npt.NDArray[np.str_]
    records: list[ClinicalRecord]
    labels: dict[str, npt.NDArray[np.int64]]
    oracle: dict[str, npt.NDArray[np.float64]] | None
    images: list[ImageFeatureValues] | None
    dropped: list[str] = field(default_factory=list)
    image_source: CohortFeatures | None = None      # where ``images`` came from
    truth: CohortFeatures | None = None             # ground-truth-mask features (ablation)

    @property
    def has_images(self) -> bool:
        return self.images is not None

    def with_truth_images(self) -> CohortData:
        """The same patients with ground-truth-mask image features (the ideal-segmentation
        bound); raises when they were not computed."""
        if self.truth is None:
            raise ValueError("ground-truth-mask features were not computed for this cohort")
        return CohortData(self.root, self.patient_ids, self.split, self.records, self.labels,
                          self.oracle, self.truth.values, self.dropped, self.truth, self.truth)

    def features(self, layout: InputLayout, index: npt.NDArray[np.int64] | None = None
                 ) -> npt.NDArray[np.float32]:
        """The ``features`` tensor of ``layout`` for the rows ``index`` (default: all)."""
        rows = np.arange(len(self.records)) if index is None else index
        images = None if self.images is None else [self.images[i] for i in rows]
        return model_input(layout, [self.records[i] for i in rows], images)




def load_cohort(root: Path, *, images: bool = True, image_source: str = SEGMENTER,
                segmenter_bundle: Path | None = None, cache_dir: Path | None = None,
                workers: int = 1) -> CohortData:
    """Read ``root``; image features only when ``images`` and the cohort has them, from
    ``image_source`` (the segmenter of ``segmenter_bundle``, or the ground truth)."""
    _, all_rows = cf.read_csv(root / cf.CLINICAL_CSV)
    rows, records, dropped = [], [], []
    for row in all_rows:
        try:
            records.append(validate_record({v.name: row.get(v.name) for v in VARIABLES},
                                           Stage.POSTOPERATIVE, prefix=row["patient_id"]))
        except InvalidInput as e:  # `cervixai cohort check` explains these; training goes on
            # field names only: clinical values never reach a log line or a report
            dropped.append(", ".join(v.field for v in e.violations))
            continue
        rows.append(row)
    if dropped:
        log.warning("dropped %d of %d patients whose clinical record is not valid (%s); run "
                    "`cervixai cohort check` for details", len(dropped), len(all_rows),
                    "; ".join(dropped[:3]))
    if not rows:
        raise ValueError(f"{root / cf.CLINICAL_CSV} has no patient with a valid record")
    ids = [r["patient_id"] for r in rows]
    labels = {t: np.array([cf.task_label(r, t) for r in rows], dtype=np.int64) for t in cf.TASKS}
    oracle = None
    if (root / cf.ORACLE_CSV).exists():
        _, oracle_rows = cf.read_csv(root / cf.ORACLE_CSV)
        by_id = {o["patient_id"]: o for o in oracle_rows}
        oracle = {t: np.array([float(by_id[i][t]) for i in ids]) for t in cf.TASKS}
    source = truth = None
    if images and cohort_has_images(root):
        source, truth = features_and_truth(root, ids, source=image_source,
                                           segmenter_bundle=segmenter_bundle,
                                           cache_dir=cache_dir, workers=workers)
    return CohortData(root, ids, np.array([r["split"] for r in rows]), records, labels, oracle,
                      None if source is None else source.values, dropped, source, truth)

