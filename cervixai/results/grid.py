"""A mask on the model grid mapped back to the source image grid (the in-plane fit undone).

Ingestion fits each source image to 256 × 256 (as is, centre crop of 320 × 320, or linear
resampling over the full field of view: :class:`cervixai.dicom.geometry.InPlaneFit`). A result
filed next to the source images must lie on their grid: the crop is undone by padding with
background, a resampling by nearest-neighbour lookup of each source pixel's centre in the model
grid (source pixel ``i`` lies at model coordinate ``(i + 0.5) · size / n − 0.5``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cervixai.dicom.geometry import InPlaneFit

Bool = npt.NDArray[np.bool_]


def to_source_grid(mask: Bool, fit: InPlaneFit) -> Bool:
    """``mask`` (slices, size, size) on the source matrix (slices, rows, columns)."""
    if mask.shape[1:] != (fit.size, fit.size):
        raise ValueError(f"mask slices are {mask.shape[1:]}, the fit's grid is "
                         f"{fit.size}×{fit.size}")
    if fit.handling == "as-is":
        return mask.copy()
    if fit.handling == "centre-cropped":
        out: Bool = np.zeros((mask.shape[0], fit.rows, fit.columns), bool)
        top = (fit.rows - fit.size) // 2
        left = (fit.columns - fit.size) // 2
        out[:, top:top + fit.size, left:left + fit.size] = mask
        return out
    rows = _nearest(fit.rows, fit.size)
    columns = _nearest(fit.columns, fit.size)
    mapped: Bool = mask[:, rows[:, None], columns[None, :]]
    return mapped


def _nearest(n: int, size: int) -> npt.NDArray[np.intp]:
    """For each of ``n`` source pixels, the nearest of ``size`` model pixels."""
    where = (np.arange(n) + 0.5) * size / n - 0.5
    return np.clip(np.rint(where), 0, size - 1).astype(np.intp)
