"""Request builders shared by the segmenter tests (imported by file, not a test module)."""

from __future__ import annotations

import numpy as np

from cervix.v1 import common_pb2, segmenter_pb2
from cervixai.wire import volume_to_proto

SPACING = (5.0, 0.9, 0.9)


def phantom(depth: int = 11, size: int = 256, seed: int = 0) -> np.ndarray:
    """A smooth volume in [0, 1] with a bright blob: enough for a valid request."""
    rng = np.random.default_rng(seed)
    k, i, j = np.meshgrid(np.arange(depth), np.arange(size), np.arange(size), indexing="ij")
    blob = np.exp(-(((k - depth / 2) * 4) ** 2 + (i - size / 2) ** 2 + (j - size / 2) ** 2)
                  / (2 * (size / 8) ** 2))
    return np.clip(0.3 * blob + 0.2 + 0.05 * rng.random((depth, size, size)), 0, 1).astype(
        np.float32)


def request(voxels: np.ndarray, **kwargs: object) -> segmenter_pb2.SegmentRequest:
    return segmenter_pb2.SegmentRequest(volume=volume_to_proto(voxels, SPACING), **kwargs)


def _with_tensor(shape: list[int], dtype: int, data: bytes) -> segmenter_pb2.SegmentRequest:
    message = request(phantom(2))
    message.volume.voxels.CopyFrom(common_pb2.Tensor(shape=shape, dtype=dtype, data=data))
    return message


def _poisoned(value: float) -> segmenter_pb2.SegmentRequest:
    voxels = phantom(4)
    voxels[2, 100, 100] = value
    return request(voxels)


def _no_geometry() -> segmenter_pb2.SegmentRequest:
    message = request(phantom(3))
    message.volume.ClearField("geometry")
    return message


MAX_SLICES = 40  # the servers and models under test are configured with this maximum

# (case, request, field named in the violation, words of the description)
BAD_REQUESTS: list[tuple[str, segmenter_pb2.SegmentRequest, str, str]] = [
    ("rank 2", _with_tensor([256, 256], common_pb2.DTYPE_FLOAT32, bytes(256 * 256 * 4)),
     "volume.voxels.shape", "3 dimensions"),
    ("rank 4", _with_tensor([1, 2, 256, 256], common_pb2.DTYPE_FLOAT32,
                            bytes(2 * 256 * 256 * 4)), "volume.voxels.shape", "3 dimensions"),
    ("uint16 voxels", _with_tensor([2, 256, 256], common_pb2.DTYPE_UINT16,
                                   bytes(2 * 256 * 256 * 2)), "volume.voxels.dtype",
     "DTYPE_FLOAT32"),
    ("dtype unset", _with_tensor([2, 256, 256], common_pb2.DTYPE_UNSPECIFIED, b""),
     "volume.voxels.dtype", "DTYPE_FLOAT32"),
    ("short data", _with_tensor([2, 256, 256], common_pb2.DTYPE_FLOAT32,
                                bytes(2 * 256 * 256 * 4 - 4)), "volume.voxels.data",
     "needs 524288"),
    ("empty volume", _with_tensor([0, 256, 256], common_pb2.DTYPE_FLOAT32, b""),
     "volume.voxels.shape", "≥ 1"),
    ("NaN", _poisoned(float("nan")), "volume.voxels.data", "NaN or infinite"),
    ("Inf", _poisoned(float("inf")), "volume.voxels.data", "NaN or infinite"),
    ("constant", request(np.full((4, 256, 256), 0.5, np.float32)), "volume.voxels.data",
     "constant"),
    ("all zero", request(np.zeros((4, 256, 256), np.float32)), "volume.voxels.data",
     "constant"),
    ("raw intensities", request(phantom(4) * 1000), "volume.voxels.data", "[0, 1]"),
    ("in-plane 128", request(phantom(4, size=128)), "volume.voxels.shape", "256×256"),
    ("too deep", request(phantom(MAX_SLICES + 1)), "volume.voxels.shape",
     f"1 to {MAX_SLICES}"),
    ("no geometry", _no_geometry(), "volume.geometry.slice_spacing_mm", "positive"),
    ("threshold 1", request(phantom(3), threshold=1.0), "threshold", "[0, 1)"),
    ("negative threshold", request(phantom(3), threshold=-0.1), "threshold", "[0, 1)"),
]
