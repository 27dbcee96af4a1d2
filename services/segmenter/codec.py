"""Wire encodings of the segmenter's arrays: volumes, tensors and lesion masks.

numpy and the generated protobuf code only (no onnxruntime), so that the gateway and clients can
import it. Mask encodings are those of docs/wire-contract.md: ``MASK_ENCODING_BITPACKED``
(``numpy.packbits(mask.ravel(), bitorder="little")``) and ``MASK_ENCODING_RLE_UINT32``
(alternating background/lesion run lengths, starting with background).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cervix.v1 import common_pb2, segmenter_pb2
from cervixai.bundle import ModelEntry
from cervixai.errors import FieldViolation, InvalidInput
from cervixai.features import Measurements
from cervixai.masks import encode_mask

F32 = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]

_DTYPES: dict[int, str] = {
    common_pb2.DTYPE_FLOAT32: "<f4",
    common_pb2.DTYPE_UINT8: "u1",
    common_pb2.DTYPE_UINT16: "<u2",
    common_pb2.DTYPE_INT16: "<i2",
}


@dataclass(frozen=True)
class DecodedVolume:
    """A request's volume as an array (slices, rows, columns) and its voxel spacing in mm."""

    voxels: F32
    spacing_mm: tuple[float, float, float]


@dataclass(frozen=True)
class Segmentation:
    """The segmenter's answer for one volume, as arrays."""

    mask: Bool
    probabilities: F32
    measurements: Measurements
    mean_probability: float
    threshold: float
    inference_seconds: float
    warnings: tuple[str, ...] = field(default=())


def segmentation_to_proto(result: Segmentation, *, provider: str, entry: ModelEntry,
                          with_probabilities: bool = False) -> segmenter_pb2.SegmentResponse:
    """The SegmentResponse for ``result`` (bit-packed mask)."""
    m = result.measurements
    k0, k1, i0, i1, j0, j1 = m.bounding_box
    reply = segmenter_pb2.SegmentResponse(
        mask=encode_mask(result.mask),
        measurements=common_pb2.LesionMeasurements(
            lesion_found=m.lesion_found, volume_ml=m.volume_ml,
            max_diameter_mm=m.max_diameter_mm, largest_slice_index=m.largest_slice_index,
            bounding_box=common_pb2.BoundingBox(slice_start=k0, slice_stop=k1, row_start=i0,
                                                row_stop=i1, column_start=j0, column_stop=j1),
            mean_probability=result.mean_probability, voxel_count=m.voxel_count),
        provider=provider,
        model=common_pb2.ModelIdentity(name=entry.name, version=entry.version,
                                       sha256=entry.files["model"].sha256,
                                       algorithm=entry.algorithm, feature_set=entry.feature_set),
        warnings=list(result.warnings),
        threshold=result.threshold,
    )
    if with_probabilities:
        reply.probabilities.CopyFrom(tensor_to_proto(result.probabilities))
    return reply


def tensor_to_proto(array: npt.NDArray[Any]) -> common_pb2.Tensor:
    """A float32 / uint8 / uint16 / int16 array as a little-endian, C-order Tensor."""
    for code, dtype in _DTYPES.items():
        if np.dtype(array.dtype) == np.dtype(dtype).newbyteorder("="):
            data = np.ascontiguousarray(array, dtype=dtype).tobytes()
            return common_pb2.Tensor(shape=list(array.shape), dtype=code,  # type: ignore[arg-type]
                                     data=data)
    raise ValueError(f"no wire dtype for {array.dtype}; use float32, uint8, uint16 or int16")


def tensor_from_proto(tensor: common_pb2.Tensor, *, field: str) -> npt.NDArray[Any]:
    """The array a Tensor holds; InvalidInput when its dtype or byte length is wrong."""
    dtype = _DTYPES.get(tensor.dtype)
    if dtype is None:
        raise InvalidInput.single(f"{field}.dtype", f"unsupported dtype {tensor.dtype}")
    shape = tuple(int(n) for n in tensor.shape)
    if any(n < 0 for n in shape):
        raise InvalidInput.single(f"{field}.shape", f"negative dimension in {list(shape)}")
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if len(tensor.data) != expected:
        raise InvalidInput.single(f"{field}.data", f"holds {len(tensor.data)} bytes; shape "
                                  f"{list(shape)} of {np.dtype(dtype).name} needs {expected}")
    return np.frombuffer(tensor.data, dtype=dtype).reshape(shape)


def volume_to_proto(voxels: F32, spacing_mm: tuple[float, float, float], *,
                    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
                    row_direction: tuple[float, float, float] = (1.0, 0.0, 0.0),
                    column_direction: tuple[float, float, float] = (0.0, 0.0, -1.0),
                    slice_direction: tuple[float, float, float] = (0.0, 1.0, 0.0),
                    ) -> common_pb2.Volume:
    """A (slices, 256, 256) float32 volume and its geometry (defaults: coronal, LPS)."""
    geometry = common_pb2.VolumeGeometry(
        slice_spacing_mm=spacing_mm[0], row_spacing_mm=spacing_mm[1],
        column_spacing_mm=spacing_mm[2], origin_mm=list(origin_mm),
        row_direction=list(row_direction), column_direction=list(column_direction),
        slice_direction=list(slice_direction))
    return common_pb2.Volume(voxels=tensor_to_proto(np.asarray(voxels, np.float32)),
                             geometry=geometry)


def volume_from_proto(volume: common_pb2.Volume, *, field: str = "volume") -> DecodedVolume:
    """Check a Volume's form (rank 3, float32, byte length, spacing); values are the model's
    business. InvalidInput names every problem found."""
    tensor = volume.voxels
    shape = [int(n) for n in tensor.shape]
    problems: list[FieldViolation] = []
    if len(shape) != 3:
        problems.append(FieldViolation(f"{field}.voxels.shape", f"must have 3 dimensions "
                                       f"(slices, rows, columns), got {shape}"))
    if tensor.dtype != common_pb2.DTYPE_FLOAT32:
        name = common_pb2.DType.Name(tensor.dtype) if tensor.dtype in _DTYPES or tensor.dtype == 0 \
            else str(tensor.dtype)
        problems.append(FieldViolation(f"{field}.voxels.dtype",
                                       f"must be DTYPE_FLOAT32, got {name}"))
    elif not problems and any(n <= 0 for n in shape):
        problems.append(FieldViolation(f"{field}.voxels.shape",
                                       f"every dimension must be ≥ 1, got {shape}"))
    elif not problems and len(tensor.data) != 4 * int(np.prod(shape, dtype=np.int64)):
        problems.append(FieldViolation(
            f"{field}.voxels.data", f"holds {len(tensor.data)} bytes; shape {shape} of float32 "
            f"needs {4 * int(np.prod(shape, dtype=np.int64))}"))
    g = volume.geometry
    spacing = (g.slice_spacing_mm, g.row_spacing_mm, g.column_spacing_mm)
    for name, value in zip(("slice_spacing_mm", "row_spacing_mm", "column_spacing_mm"), spacing,
                           strict=True):
        if not (np.isfinite(value) and value > 0):
            problems.append(FieldViolation(f"{field}.geometry.{name}",
                                           f"must be a positive number of mm, got {value}"))
    if problems:
        raise InvalidInput(problems)
    voxels = np.frombuffer(tensor.data, dtype="<f4").reshape(shape)
    return DecodedVolume(voxels.astype(np.float32, copy=False),
                         (float(spacing[0]), float(spacing[1]), float(spacing[2])))
