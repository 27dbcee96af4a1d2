"""Wire encodings of masks, tensors and volumes (cervixai.masks, services.segmenter.codec)."""

from __future__ import annotations

import numpy as np
import pytest

from cervix.v1 import common_pb2
from cervixai.errors import InvalidInput
from cervixai.masks import decode_mask, encode_mask
from cervixai.wire import (
    tensor_from_proto,
    tensor_to_proto,
    volume_from_proto,
    volume_to_proto,
)

ENCODINGS = [common_pb2.MASK_ENCODING_BITPACKED, common_pb2.MASK_ENCODING_RLE_UINT32]


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    lesion = np.zeros((5, 7, 9), bool)
    lesion[1:4, 2:5, 3:8] = True
    return [np.zeros((3, 4, 5), bool), np.ones((3, 4, 5), bool), lesion,
            rng.random((7, 3, 11)) > 0.5, np.eye(3, dtype=bool)[None]]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("index", range(5))
def test_masks_round_trip(encoding: int, index: int) -> None:
    mask = _masks()[index]
    message = encode_mask(mask, encoding)
    assert list(message.shape) == list(mask.shape)
    np.testing.assert_array_equal(decode_mask(message), mask)


def test_bitpacked_layout_is_the_contract() -> None:
    mask = np.zeros((1, 1, 10), bool)
    mask[0, 0, [0, 3, 9]] = True
    data = encode_mask(mask).data
    assert data == bytes([0b00001001, 0b00000010])
    assert len(encode_mask(np.zeros((24, 256, 256), bool)).data) == 196_608


def test_rle_starts_with_background() -> None:
    mask = np.array([[[1, 1, 0, 1]]], bool)
    runs = np.frombuffer(encode_mask(mask, common_pb2.MASK_ENCODING_RLE_UINT32).data, "<u4")
    assert runs.tolist() == [0, 2, 1, 1]


@pytest.mark.parametrize(("message", "match"), [
    (common_pb2.Mask(shape=[2, 8], encoding=common_pb2.MASK_ENCODING_BITPACKED, data=b"\0"),
     "need 2"),
    (common_pb2.Mask(shape=[4], encoding=common_pb2.MASK_ENCODING_RLE_UINT32,
                     data=np.array([1, 2], "<u4").tobytes()), "sum to 3"),
    (common_pb2.Mask(shape=[4], encoding=common_pb2.MASK_ENCODING_RLE_UINT32, data=b"\0\0"),
     "whole uint32"),
    (common_pb2.Mask(shape=[4], data=b""), "unsupported encoding"),
])
def test_malformed_masks_are_refused(message: common_pb2.Mask, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        decode_mask(message)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.uint16, np.int16])
def test_tensors_round_trip(dtype: type) -> None:
    array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    back = tensor_from_proto(tensor_to_proto(array), field="t")
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, array)


def test_volume_round_trip_keeps_spacing() -> None:
    voxels = np.random.default_rng(1).random((3, 256, 256), dtype=np.float32)
    decoded = volume_from_proto(volume_to_proto(voxels, (5.0, 0.8, 0.9)))
    assert decoded.spacing_mm == (5.0, 0.8, 0.9)
    np.testing.assert_array_equal(decoded.voxels, voxels)
