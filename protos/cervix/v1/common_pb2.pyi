from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_UINT8: _ClassVar[DType]
    DTYPE_UINT16: _ClassVar[DType]
    DTYPE_INT16: _ClassVar[DType]

class MaskEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MASK_ENCODING_UNSPECIFIED: _ClassVar[MaskEncoding]
    MASK_ENCODING_BITPACKED: _ClassVar[MaskEncoding]
    MASK_ENCODING_RLE_UINT32: _ClassVar[MaskEncoding]

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_PREOPERATIVE: _ClassVar[Stage]
    STAGE_POSTOPERATIVE: _ClassVar[Stage]

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_PARAMETRIAL_INVASION: _ClassVar[Task]
    TASK_LYMPH_NODE_METASTASIS: _ClassVar[Task]
    TASK_RECURRENCE: _ClassVar[Task]
    TASK_DEATH: _ClassVar[Task]
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType
DTYPE_UINT8: DType
DTYPE_UINT16: DType
DTYPE_INT16: DType
MASK_ENCODING_UNSPECIFIED: MaskEncoding
MASK_ENCODING_BITPACKED: MaskEncoding
MASK_ENCODING_RLE_UINT32: MaskEncoding
STAGE_UNSPECIFIED: Stage
STAGE_PREOPERATIVE: Stage
STAGE_POSTOPERATIVE: Stage
TASK_UNSPECIFIED: Task
TASK_PARAMETRIAL_INVASION: Task
TASK_LYMPH_NODE_METASTASIS: Task
TASK_RECURRENCE: Task
TASK_DEATH: Task

class Tensor(_message.Message):
    __slots__ = ("shape", "dtype", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: DType
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[_Union[DType, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class VolumeGeometry(_message.Message):
    __slots__ = ("slice_spacing_mm", "row_spacing_mm", "column_spacing_mm", "origin_mm", "row_direction", "column_direction", "slice_direction")
    SLICE_SPACING_MM_FIELD_NUMBER: _ClassVar[int]
    ROW_SPACING_MM_FIELD_NUMBER: _ClassVar[int]
    COLUMN_SPACING_MM_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_MM_FIELD_NUMBER: _ClassVar[int]
    ROW_DIRECTION_FIELD_NUMBER: _ClassVar[int]
    COLUMN_DIRECTION_FIELD_NUMBER: _ClassVar[int]
    SLICE_DIRECTION_FIELD_NUMBER: _ClassVar[int]
    slice_spacing_mm: float
    row_spacing_mm: float
    column_spacing_mm: float
    origin_mm: _containers.RepeatedScalarFieldContainer[float]
    row_direction: _containers.RepeatedScalarFieldContainer[float]
    column_direction: _containers.RepeatedScalarFieldContainer[float]
    slice_direction: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, slice_spacing_mm: _Optional[float] = ..., row_spacing_mm: _Optional[float] = ..., column_spacing_mm: _Optional[float] = ..., origin_mm: _Optional[_Iterable[float]] = ..., row_direction: _Optional[_Iterable[float]] = ..., column_direction: _Optional[_Iterable[float]] = ..., slice_direction: _Optional[_Iterable[float]] = ...) -> None: ...

class Volume(_message.Message):
    __slots__ = ("voxels", "geometry")
    VOXELS_FIELD_NUMBER: _ClassVar[int]
    GEOMETRY_FIELD_NUMBER: _ClassVar[int]
    voxels: Tensor
    geometry: VolumeGeometry
    def __init__(self, voxels: _Optional[_Union[Tensor, _Mapping]] = ..., geometry: _Optional[_Union[VolumeGeometry, _Mapping]] = ...) -> None: ...

class Mask(_message.Message):
    __slots__ = ("shape", "encoding", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    encoding: MaskEncoding
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., encoding: _Optional[_Union[MaskEncoding, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("slice_start", "slice_stop", "row_start", "row_stop", "column_start", "column_stop")
    SLICE_START_FIELD_NUMBER: _ClassVar[int]
    SLICE_STOP_FIELD_NUMBER: _ClassVar[int]
    ROW_START_FIELD_NUMBER: _ClassVar[int]
    ROW_STOP_FIELD_NUMBER: _ClassVar[int]
    COLUMN_START_FIELD_NUMBER: _ClassVar[int]
    COLUMN_STOP_FIELD_NUMBER: _ClassVar[int]
    slice_start: int
    slice_stop: int
    row_start: int
    row_stop: int
    column_start: int
    column_stop: int
    def __init__(self, slice_start: _Optional[int] = ..., slice_stop: _Optional[int] = ..., row_start: _Optional[int] = ..., row_stop: _Optional[int] = ..., column_start: _Optional[int] = ..., column_stop: _Optional[int] = ...) -> None: ...

class LesionMeasurements(_message.Message):
    __slots__ = ("lesion_found", "volume_ml", "max_diameter_mm", "largest_slice_index", "bounding_box", "mean_probability", "voxel_count")
    LESION_FOUND_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ML_FIELD_NUMBER: _ClassVar[int]
    MAX_DIAMETER_MM_FIELD_NUMBER: _ClassVar[int]
    LARGEST_SLICE_INDEX_FIELD_NUMBER: _ClassVar[int]
    BOUNDING_BOX_FIELD_NUMBER: _ClassVar[int]
    MEAN_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    VOXEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    lesion_found: bool
    volume_ml: float
    max_diameter_mm: float
    largest_slice_index: int
    bounding_box: BoundingBox
    mean_probability: float
    voxel_count: int
    def __init__(self, lesion_found: _Optional[bool] = ..., volume_ml: _Optional[float] = ..., max_diameter_mm: _Optional[float] = ..., largest_slice_index: _Optional[int] = ..., bounding_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., mean_probability: _Optional[float] = ..., voxel_count: _Optional[int] = ...) -> None: ...

class ModelIdentity(_message.Message):
    __slots__ = ("name", "version", "sha256", "algorithm", "feature_set")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    sha256: str
    algorithm: str
    feature_set: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ..., algorithm: _Optional[str] = ..., feature_set: _Optional[str] = ...) -> None: ...

class ImageFeatures(_message.Message):
    __slots__ = ("lesion_slice", "radiomics", "lesion_found")
    class RadiomicsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LESION_SLICE_FIELD_NUMBER: _ClassVar[int]
    RADIOMICS_FIELD_NUMBER: _ClassVar[int]
    LESION_FOUND_FIELD_NUMBER: _ClassVar[int]
    lesion_slice: Tensor
    radiomics: _containers.ScalarMap[str, float]
    lesion_found: bool
    def __init__(self, lesion_slice: _Optional[_Union[Tensor, _Mapping]] = ..., radiomics: _Optional[_Mapping[str, float]] = ..., lesion_found: _Optional[bool] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "seconds")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    seconds: float
    def __init__(self, stage: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class ConfidenceInterval(_message.Message):
    __slots__ = ("low", "high")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class MetricValue(_message.Message):
    __slots__ = ("value", "ci95")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CI95_FIELD_NUMBER: _ClassVar[int]
    value: float
    ci95: ConfidenceInterval
    def __init__(self, value: _Optional[float] = ..., ci95: _Optional[_Union[ConfidenceInterval, _Mapping]] = ...) -> None: ...

class Proportion(_message.Message):
    __slots__ = ("value", "ci95", "numerator", "denominator")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CI95_FIELD_NUMBER: _ClassVar[int]
    NUMERATOR_FIELD_NUMBER: _ClassVar[int]
    DENOMINATOR_FIELD_NUMBER: _ClassVar[int]
    value: float
    ci95: ConfidenceInterval
    numerator: int
    denominator: int
    def __init__(self, value: _Optional[float] = ..., ci95: _Optional[_Union[ConfidenceInterval, _Mapping]] = ..., numerator: _Optional[int] = ..., denominator: _Optional[int] = ...) -> None: ...
