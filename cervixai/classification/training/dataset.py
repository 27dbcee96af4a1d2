"""A cohort folder as training data: validated records, labels, split, oracle, image features.

Image features need a lesion mask. Until the segmenter's masks are available for a whole cohort
they are computed from the cohort's ground-truth masks (``masks/<patient_id>.dcm``), which is
what every report built here says. Computing them costs ~0.35 s per patient, so they are cached
in an ``.npz`` keyed by the sha256 of clinical.csv and the radiomics feature names.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai.bundle import sha256_of
from cervixai.classification.inputs import InputLayout, model_input
from cervixai.clinical import VARIABLES, ClinicalRecord, Stage, validate_record
from cervixai.cohort import format as cf
from cervixai.errors import InvalidInput
from cervixai.features import FEATURE_NAMES, ImageFeatureValues

log = logging.getLogger(__name__)
MASK_SOURCE = "ground-truth masks of the cohort (masks/*.dcm), not the segmenter's"


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

    @property
    def has_images(self) -> bool:
        return self.images is not None

    def features(self, layout: InputLayout, index: npt.NDArray[np.int64] | None = None
                 ) -> npt.NDArray[np.float32]:
        """The ``features`` tensor of ``layout`` for the rows ``index`` (default: all)."""
        rows = np.arange(len(self.records)) if index is None else index
        images = None if self.images is None else [self.images[i] for i in rows]
        return model_input(layout, [self.records[i] for i in rows], images)


def cohort_has_images(root: Path) -> bool:
    manifest = root / cf.MANIFEST
    if manifest.exists() and json.loads(manifest.read_text()).get("images") is False:
        return False
    return (root / cf.IMAGES_DIR).is_dir() and (root / cf.MASKS_DIR).is_dir()


def load_cohort(root: Path, *, images: bool = True, cache_dir: Path | None = None,
                workers: int = 1) -> CohortData:
    """Read ``root``; image features only when ``images`` and the cohort has them."""
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
    features = None
    if images and cohort_has_images(root):
        features = image_features(root, ids, cache_dir or root.parent, workers=workers)
    return CohortData(root, ids, np.array([r["split"] for r in rows]), records, labels, oracle,
                      features, dropped)


def _cache_path(root: Path, cache_dir: Path) -> Path:
    key = hashlib.sha256((sha256_of(root / cf.CLINICAL_CSV) + ",".join(FEATURE_NAMES)).encode())
    return cache_dir / f"{root.name}-image-features-{key.hexdigest()[:12]}.npz"


def image_features(root: Path, ids: Sequence[str], cache_dir: Path, *, workers: int = 1
                   ) -> list[ImageFeatureValues]:
    """Each patient's image features from its series and ground-truth mask (cached)."""
    path = _cache_path(root, cache_dir)
    if path.exists():
        with np.load(path) as cached:
            if list(cached["patient_ids"]) == list(ids):
                log.info("image features from cache %s", path)
                return _unpack(cached)
    log.info("computing image features of %d patients (ground-truth masks)", len(ids))
    jobs = [(root, pid) for pid in ids]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            values = list(pool.map(patient_image_features, jobs, chunksize=4))
    else:
        values = [patient_image_features(job) for job in jobs]
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(path, patient_ids=np.array(ids),
             lesion_found=np.array([v.lesion_found for v in values]),
             slice_index=np.array([v.slice_index for v in values]),
             lesion_slice=np.stack([v.lesion_slice for v in values]),
             radiomics=np.array([[v.radiomics[n] for n in FEATURE_NAMES] for v in values]))
    return values


def _unpack(cached: np.lib.npyio.NpzFile) -> list[ImageFeatureValues]:
    return [ImageFeatureValues(bool(found), int(index), np.asarray(pixels, np.float32),
                               dict(zip(FEATURE_NAMES, (float(x) for x in row), strict=True)))
            for found, index, pixels, row in zip(cached["lesion_found"], cached["slice_index"],
                                                 cached["lesion_slice"], cached["radiomics"],
                                                 strict=True)]


def patient_image_features(job: tuple[Path, str]) -> ImageFeatureValues:
    """Image features of one patient (cohort root, patient id) from its ground-truth mask."""
    from cervixai.cohort.masks import read_mask
    from cervixai.dicom import load_series_from_path
    from cervixai.features import extract

    root, pid = job
    series = load_series_from_path(root / cf.IMAGES_DIR / pid)
    mask = read_mask(root / cf.MASKS_DIR / f"{pid}.dcm", series.geometry, series.volume.shape)
    spacing = tuple(float(s) for s in series.geometry.spacing_mm)
    return extract(series.volume, mask, (spacing[0], spacing[1], spacing[2]))
