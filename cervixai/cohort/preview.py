"""``cervixai cohort preview``: example slices with the true lesion outlined, as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.ndimage import binary_erosion

from cervixai.cohort import format as cf

OUTLINE_RGB = (255, 64, 64)


def outlined_slice(image: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]
                   ) -> npt.NDArray[np.uint8]:
    """An RGB rendering of one normalised slice with the mask's outline drawn over it."""
    grey = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    edge = mask & ~binary_erosion(mask)
    rgb[edge] = OUTLINE_RGB
    return rgb


def preview(root: Path, out: Path, *, patients: int = 4) -> list[Path]:
    """Write one PNG per patient (the slice of largest lesion area) and a strip of all of them."""
    from PIL import Image

    from cervixai.cohort.masks import read_mask
    from cervixai.dicom import load_series_from_path

    _, rows = cf.read_csv(root / cf.CLINICAL_CSV)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tiles = []
    for row in rows[:patients]:
        pid = row["patient_id"]
        series = load_series_from_path(root / cf.IMAGES_DIR / pid)
        mask = read_mask(root / cf.MASKS_DIR / f"{pid}.dcm", series.geometry, series.volume.shape)
        k = int(np.argmax(mask.sum(axis=(1, 2))))
        rgb = outlined_slice(series.volume[k], mask[k])
        path = out / f"{pid}.png"
        Image.fromarray(rgb).save(path)
        written.append(path)
        tiles.append(rgb)
    if tiles:
        strip = out / "cohort-preview.png"
        Image.fromarray(np.concatenate(tiles, axis=1)).save(strip)
        written.append(strip)
    return written
