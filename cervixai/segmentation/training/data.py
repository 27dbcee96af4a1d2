"""Volumes and masks of a cohort, ingested once and cached as .npz, and training crops.

Each patient's series is read with :func:`cervixai.dicom.load_series_from_path` (the same
ingestion the gateway runs) and its SEG with :func:`cervixai.cohort.masks.read_mask`. The result
is cached per cohort (keyed by the sha256 of clinical.csv and the cervixai version), so that a
second training run on the same cohort starts in seconds. Delete the cache folder after changing
a cohort's images in place.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai import __version__
from cervixai.cohort.format import CLINICAL_CSV, IMAGES_DIR, MASKS_DIR, read_csv

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Case:
    """One patient's normalised volume (D, 256, 256), true mask and voxel spacing."""

    patient_id: str
    split: str
    volume: F32
    mask: Bool
    spacing_mm: tuple[float, float, float]


def cache_key(cohort: Path) -> str:
    digest = hashlib.sha256((cohort / CLINICAL_CSV).read_bytes())
    digest.update(__version__.encode())
    return digest.hexdigest()[:16]


def _ingest(args: tuple[str, str, str, str]) -> str:
    cohort, patient_id, split, target = args
    from cervixai.cohort.masks import read_mask
    from cervixai.dicom import load_series_from_path

    series = load_series_from_path(Path(cohort) / IMAGES_DIR / patient_id)
    mask = read_mask(Path(cohort) / MASKS_DIR / f"{patient_id}.dcm", series.geometry,
                     series.volume.shape)
    tmp = Path(target).with_suffix(".tmp.npz")
    np.savez(tmp, volume=series.volume, mask=np.packbits(mask.ravel(), bitorder="little"),
             shape=np.array(mask.shape), spacing=np.array(series.geometry.spacing_mm),
             split=np.array(split))
    os.replace(tmp, target)
    return patient_id


def load_cohort(cohort: Path, cache: Path, *, limit: int | None = None,
                workers: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> list[Case]:
    """Every patient of ``cohort`` (or the first ``limit``), ingesting those not yet cached."""
    _, rows = read_csv(cohort / CLINICAL_CSV)
    rows = rows[:limit] if limit else rows
    folder = cache / cache_key(cohort)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(cohort), r["patient_id"], r["split"], str(folder / f"{r['patient_id']}.npz"))
            for r in rows if not (folder / f"{r['patient_id']}.npz").exists()]
    if jobs:
        log.info("ingesting %d of %d patients into %s", len(jobs), len(rows), folder)
        workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
        done = 0
        if workers == 1:
            for job in jobs:
                _ingest(job)
                done += 1
                if progress:
                    progress(done, len(jobs))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(_ingest, jobs, chunksize=2):
                    done += 1
                    if progress:
                        progress(done, len(jobs))
    return [read_case(folder / f"{r['patient_id']}.npz", r["patient_id"]) for r in rows]


def read_case(path: Path, patient_id: str) -> Case:
    with np.load(path) as data:
        shape = tuple(int(n) for n in data["shape"])
        mask = np.unpackbits(data["mask"], count=int(np.prod(shape)),
                             bitorder="little").reshape(shape).astype(bool)
        s = data["spacing"]
        return Case(patient_id, str(data["split"]), np.ascontiguousarray(data["volume"],
                    np.float32), mask, (float(s[0]), float(s[1]), float(s[2])))


def pad_to(array: npt.NDArray[np.generic], depth: int) -> npt.NDArray[np.generic]:
    """Zero-pad the slice axis at the end up to ``depth`` slices."""
    if array.shape[0] >= depth:
        return array
    return np.pad(array, [(0, depth - array.shape[0])] + [(0, 0)] * (array.ndim - 1))


class CropSampler:
    """Random training crops (depth, size, size): a share of them centred near the lesion.

    Crops that straddle the volume's edge are zero-padded, as serving pads the depth.
    """

    def __init__(self, cases: Sequence[Case], crop: tuple[int, int, int], lesion_share: float,
                 seed: int) -> None:
        self.cases = list(cases)
        self.crop = crop
        self.lesion_share = lesion_share
        self.rng = np.random.default_rng(seed)
        self._lesion_voxels = [np.argwhere(c.mask) for c in self.cases]

    def sample(self, batch: int) -> tuple[F32, F32]:
        vols, masks = [], []
        for _ in range(batch):
            i = int(self.rng.integers(len(self.cases)))
            v, m = self._crop(i)
            if self.rng.random() < 0.5:  # left-right flip: the pelvis is near symmetric
                v, m = v[:, :, ::-1], m[:, :, ::-1]
            vols.append(v)
            masks.append(m)
        return (np.stack(vols)[:, None].astype(np.float32),
                np.stack(masks)[:, None].astype(np.float32))

    def _crop(self, i: int) -> tuple[F32, Bool]:
        case = self.cases[i]
        shape = case.volume.shape
        lesion = self._lesion_voxels[i]
        starts = []
        if len(lesion) and self.rng.random() < self.lesion_share:
            centre = lesion[int(self.rng.integers(len(lesion)))]
            for axis in range(3):
                jitter = int(self.rng.integers(-self.crop[axis] // 4, self.crop[axis] // 4 + 1))
                starts.append(int(centre[axis]) - self.crop[axis] // 2 + jitter)
        else:
            starts = [int(self.rng.integers(0, max(1, shape[a] - self.crop[a] + 1)))
                      for a in range(3)]
        starts = [min(max(0, s), max(0, shape[a] - self.crop[a])) for a, s in enumerate(starts)]
        region = tuple(slice(s, s + c) for s, c in zip(starts, self.crop, strict=True))
        v, m = case.volume[region], case.mask[region]
        if v.shape != self.crop:
            pad = [(0, c - n) for c, n in zip(self.crop, v.shape, strict=True)]
            v, m = np.pad(v, pad), np.pad(m, pad)
        return v, m
