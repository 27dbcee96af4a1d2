"""The one wire codec for arrays: tensors, volumes and their geometry (docs/wire-contract.md).

numpy and the generated protobuf code only, so that the gateway, the model services, the feature
code and clients share it. Masks have their own compact encodings in :mod:`cervixai.masks`.
Every array travels little-endian in C order; a decoding problem is an :class:`InvalidInput`
naming the field, so a service can return it as INVALID_ARGUMENT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cervix.v1 import common_pb2
from cervixai.errors import FieldViolation, InvalidInput

F32 = npt.NDArray[np.float32]
Vector = tuple[float, float, float]

DTYPES: dict[int, str] = {
    common_pb2.DTYPE_FLOAT32: "<f4",
    common_pb2.DTYPE_UINT8: "u1",
    common_pb2.DTYPE_UINT16: "<u2",
    common_pb2.DTYPE_INT16: "<i2",
}
# The default placement of a volume sent without one: coronal slices in LPS.
CORONAL = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))


class Placement(Protocol):
    """Where a volume's voxels lie (cervixai.dicom.geometry.Geometry has these fields)."""

    @property
    def spacing_mm(self) -> Vector: ...
    @property
    def origin_mm(self) -> Vector: ...
    @property
    def row_direction(self) -> Vector: ...
    @property
    def column_direction(self) -> Vector: ...
    @property
    def slice_direction(self) -> Vector: ...


@dataclass(frozen=True)
class DecodedVolume:
    """A request's volume as an array (slices, rows, columns) and its voxel spacing in mm."""

    voxels: F32
    spacing_mm: Vector


def tensor_to_proto(array: npt.NDArray[Any]) -> common_pb2.Tensor:
    """A float32 / uint8 / uint16 / int16 array as a little-endian, C-order Tensor."""
    for code, dtype in DTYPES.items():
        if np.dtype(array.dtype) == np.dtype(dtype).newbyteorder("="):
            data = np.ascontiguousarray(array, dtype=dtype).tobytes()
            return common_pb2.Tensor(shape=list(array.shape), dtype=code,  # type: ignore[arg-type]
                                     data=data)
    raise ValueError(f"no wire dtype for {array.dtype}; use float32, uint8, uint16 or int16")


def tensor_problems(tensor: common_pb2.Tensor, *, field: str,
                    shape: tuple[int, ...] | None = None,
                    dtype: int | None = None) -> list[FieldViolation]:
    """Every problem of a Tensor's form: dtype (or not ``dtype``), shape (or not ``shape``),
    empty or negative dimensions, a byte length that does not fit the shape."""
    problems: list[FieldViolation] = []
    actual = tuple(int(n) for n in tensor.shape)
    if shape is not None and actual != shape:
        problems.append(FieldViolation(f"{field}.shape", f"must be {list(shape)}, got "
                                                         f"{list(actual)}"))
    elif any(n <= 0 for n in actual):
        problems.append(FieldViolation(f"{field}.shape",
                                       f"every dimension must be ≥ 1, got {list(actual)}"))
    code = DTYPES.get(tensor.dtype)
    if dtype is not None and tensor.dtype != dtype:
        problems.append(FieldViolation(f"{field}.dtype", f"must be {_dtype_name(dtype)}, got "
                                                         f"{_dtype_name(tensor.dtype)}"))
    elif code is None:
        problems.append(FieldViolation(f"{field}.dtype",
                                       f"unsupported dtype {_dtype_name(tensor.dtype)}"))
    if not problems:
        expected = int(np.prod(actual, dtype=np.int64)) * np.dtype(code).itemsize
        if len(tensor.data) != expected:
            problems.append(FieldViolation(
                f"{field}.data", f"holds {len(tensor.data)} bytes; shape {list(actual)} of "
                f"{np.dtype(code).name} needs {expected}"))
    return problems


def tensor_from_proto(tensor: common_pb2.Tensor, *, field: str,
                      shape: tuple[int, ...] | None = None,
                      dtype: int | None = None) -> npt.NDArray[Any]:
    """The (read-only) array a Tensor holds; InvalidInput names every problem of its form."""
    problems = tensor_problems(tensor, field=field, shape=shape, dtype=dtype)
    if problems:
        raise InvalidInput(problems)
    return np.frombuffer(tensor.data, dtype=DTYPES[tensor.dtype]).reshape(
        tuple(int(n) for n in tensor.shape))


def geometry_to_proto(placement: Placement) -> common_pb2.VolumeGeometry:
    """The VolumeGeometry message of a placement (spacing, origin, directions)."""
    return common_pb2.VolumeGeometry(
        slice_spacing_mm=float(placement.spacing_mm[0]),
        row_spacing_mm=float(placement.spacing_mm[1]),
        column_spacing_mm=float(placement.spacing_mm[2]),
        origin_mm=[float(v) for v in placement.origin_mm],
        row_direction=[float(v) for v in placement.row_direction],
        column_direction=[float(v) for v in placement.column_direction],
        slice_direction=[float(v) for v in placement.slice_direction])


@dataclass(frozen=True)
class _Placement:
    spacing_mm: Vector
    origin_mm: Vector = (0.0, 0.0, 0.0)
    row_direction: Vector = CORONAL[0]
    column_direction: Vector = CORONAL[1]
    slice_direction: Vector = CORONAL[2]


def volume_to_proto(voxels: npt.NDArray[Any] | None,
                    placement: Placement | Vector) -> common_pb2.Volume:
    """A (slices, rows, columns) float32 volume and its placement as a Volume message.

    ``placement`` is a geometry (an ingested series' ``geometry``) or just the voxel spacing in
    mm (then coronal slices at the origin). ``voxels=None`` gives the geometry alone."""
    if isinstance(placement, tuple):
        placement = _Placement(placement)
    message = common_pb2.Volume(geometry=geometry_to_proto(placement))
    if voxels is not None:
        message.voxels.CopyFrom(tensor_to_proto(np.asarray(voxels, np.float32)))
    return message


def volume_from_proto(volume: common_pb2.Volume, *, field: str = "volume") -> DecodedVolume:
    """Check a Volume's form (rank 3, float32, byte length, spacing); values are the model's
    business. InvalidInput names every problem found."""
    tensor = volume.voxels
    problems: list[FieldViolation] = []
    if len(tensor.shape) != 3:
        problems.append(FieldViolation(f"{field}.voxels.shape",
                                       f"must have 3 dimensions (slices, rows, columns), got "
                                       f"{[int(n) for n in tensor.shape]}"))
        if tensor.dtype != common_pb2.DTYPE_FLOAT32:
            problems.append(FieldViolation(f"{field}.voxels.dtype", "must be DTYPE_FLOAT32, "
                                           f"got {_dtype_name(tensor.dtype)}"))
    else:
        problems += tensor_problems(tensor, field=f"{field}.voxels",
                                    dtype=common_pb2.DTYPE_FLOAT32)
    g = volume.geometry
    spacing = (g.slice_spacing_mm, g.row_spacing_mm, g.column_spacing_mm)
    for name, value in zip(("slice_spacing_mm", "row_spacing_mm", "column_spacing_mm"), spacing,
                           strict=True):
        if not (np.isfinite(value) and value > 0):
            problems.append(FieldViolation(f"{field}.geometry.{name}",
                                           f"must be a positive number of mm, got {value}"))
    if problems:
        raise InvalidInput(problems)
    voxels = np.frombuffer(tensor.data, dtype="<f4").reshape(tuple(int(n) for n in tensor.shape))
    return DecodedVolume(voxels.astype(np.float32, copy=False),
                         (float(spacing[0]), float(spacing[1]), float(spacing[2])))


def _dtype_name(code: int) -> str:
    try:
        return common_pb2.DType.Name(code)
    except ValueError:
        return str(code)
