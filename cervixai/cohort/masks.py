"""Ground-truth lesion masks as DICOM Segmentation objects (written with highdicom).

A SEG references the MR images it was drawn on and carries its own geometry (plane positions,
orientation, pixel spacing), so any viewer or PACS can overlay it. :func:`read_mask` maps a SEG
onto the grid of an ingested series by patient coordinates, so the crop or resampling that
ingestion applied never needs to be known by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom

from cervixai import __version__

SEGMENT_LABEL = "Cervical lesion"


def write_seg(mask: npt.NDArray[np.bool_], source: Sequence[pydicom.Dataset], path: Path) -> None:
    """Write ``mask`` (slices, rows, cols), aligned with ``source`` in order, as a binary SEG."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if mask.shape != (len(source), int(source[0].Rows), int(source[0].Columns)):
        raise ValueError(f"mask shape {mask.shape} does not match the {len(source)} source "
                         f"images of {source[0].Rows}x{source[0].Columns}")
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=list(source),
        pixel_array=mask.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="cervixai",
        manufacturer_model_name="synthetic cohort",
        software_versions=__version__,
        device_serial_number="0",
        omit_empty_frames=bool(mask.any()),  # smaller and faster; absent frames are background
    )
    seg.save_as(path)


def read_mask(path: Path, geometry: Any, shape: tuple[int, int, int]) -> npt.NDArray[np.bool_]:
    """The SEG at ``path`` sampled (nearest neighbour) on the grid of an ingested series.

    ``geometry`` is a :class:`cervixai.dicom.Geometry`; ``shape`` the volume's (slices, rows, cols).
    Voxels that no SEG frame covers are background. Raises ValueError when the SEG is not a
    segmentation or its planes are not parallel to the series.
    """
    ds = pydicom.dcmread(path)
    if getattr(ds, "Modality", None) != "SEG":
        raise ValueError(f"{path.name} is not a DICOM Segmentation (modality "
                         f"{getattr(ds, 'Modality', 'missing')})")
    frames = np.asarray(ds.pixel_array, dtype=bool)
    if frames.ndim == 2:
        frames = frames[None]
    shared = ds.SharedFunctionalGroupsSequence[0]
    orientation = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    spacing = np.array(shared.PixelMeasuresSequence[0].PixelSpacing, float)
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    target_normal = np.array(geometry.slice_direction, float)
    if abs(abs(float(normal @ target_normal)) - 1) > 1e-3:
        raise ValueError(f"{path.name}: segmentation planes are not parallel to the series")
    positions = np.array([f.PlanePositionSequence[0].ImagePositionPatient
                          for f in ds.PerFrameFunctionalGroupsSequence], float)

    out = np.zeros(shape, dtype=bool)
    origin = np.array(geometry.origin_mm, float)
    d_slice, d_row, d_col = (float(s) for s in geometry.spacing_mm)
    out_row_dir = np.array(geometry.row_direction, float)
    out_col_dir = np.array(geometry.column_direction, float)
    frame_depth = positions @ target_normal
    ii, jj = np.meshgrid(np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    for k in range(shape[0]):
        plane = origin + k * d_slice * target_normal
        nearest = int(np.argmin(np.abs(frame_depth - plane @ target_normal)))
        if abs(frame_depth[nearest] - plane @ target_normal) > d_slice / 2:
            continue
        points = (plane[None, None, :] + ii[..., None] * d_row * out_col_dir
                  + jj[..., None] * d_col * out_row_dir)
        rel = points - positions[nearest]
        col = np.rint(rel @ row_dir / spacing[1]).astype(int)
        row = np.rint(rel @ col_dir / spacing[0]).astype(int)
        inside = (row >= 0) & (row < frames.shape[1]) & (col >= 0) & (col < frames.shape[2])
        out[k][inside] = frames[nearest][row[inside], col[inside]]
    return out
