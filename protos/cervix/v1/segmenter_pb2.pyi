from cervix.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SegmentRequest(_message.Message):
    __slots__ = ("volume", "threshold", "return_probabilities")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RETURN_PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    volume: _common_pb2.Volume
    threshold: float
    return_probabilities: bool
    def __init__(self, volume: _Optional[_Union[_common_pb2.Volume, _Mapping]] = ..., threshold: _Optional[float] = ..., return_probabilities: _Optional[bool] = ...) -> None: ...

class SegmentResponse(_message.Message):
    __slots__ = ("mask", "measurements", "provider", "model", "warnings", "probabilities", "threshold")
    MASK_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    mask: _common_pb2.Mask
    measurements: _common_pb2.LesionMeasurements
    provider: str
    model: _common_pb2.ModelIdentity
    warnings: _containers.RepeatedScalarFieldContainer[str]
    probabilities: _common_pb2.Tensor
    threshold: float
    def __init__(self, mask: _Optional[_Union[_common_pb2.Mask, _Mapping]] = ..., measurements: _Optional[_Union[_common_pb2.LesionMeasurements, _Mapping]] = ..., provider: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ModelIdentity, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ..., probabilities: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., threshold: _Optional[float] = ...) -> None: ...
