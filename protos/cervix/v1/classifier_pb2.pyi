from cervix.v1 import clinical_pb2 as _clinical_pb2
from cervix.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClassifyRequest(_message.Message):
    __slots__ = ("tasks", "stage", "clinical", "image_features")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FEATURES_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedScalarFieldContainer[_common_pb2.Task]
    stage: _common_pb2.Stage
    clinical: _clinical_pb2.ClinicalRecord
    image_features: _common_pb2.ImageFeatures
    def __init__(self, tasks: _Optional[_Iterable[_Union[_common_pb2.Task, str]]] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., clinical: _Optional[_Union[_clinical_pb2.ClinicalRecord, _Mapping]] = ..., image_features: _Optional[_Union[_common_pb2.ImageFeatures, _Mapping]] = ...) -> None: ...

class TaskPrediction(_message.Message):
    __slots__ = ("task", "probability", "label", "threshold", "target_sensitivity", "model")
    TASK_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TARGET_SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    task: _common_pb2.Task
    probability: float
    label: bool
    threshold: float
    target_sensitivity: float
    model: _common_pb2.ModelIdentity
    def __init__(self, task: _Optional[_Union[_common_pb2.Task, str]] = ..., probability: _Optional[float] = ..., label: _Optional[bool] = ..., threshold: _Optional[float] = ..., target_sensitivity: _Optional[float] = ..., model: _Optional[_Union[_common_pb2.ModelIdentity, _Mapping]] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("predictions", "warnings")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[TaskPrediction]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, predictions: _Optional[_Iterable[_Union[TaskPrediction, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...
