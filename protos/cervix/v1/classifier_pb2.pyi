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
    __slots__ = ("task", "probability", "label", "threshold", "target_sensitivity", "model", "operating_characteristics")
    TASK_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TARGET_SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OPERATING_CHARACTERISTICS_FIELD_NUMBER: _ClassVar[int]
    task: _common_pb2.Task
    probability: float
    label: bool
    threshold: float
    target_sensitivity: float
    model: _common_pb2.ModelIdentity
    operating_characteristics: OperatingCharacteristics
    def __init__(self, task: _Optional[_Union[_common_pb2.Task, str]] = ..., probability: _Optional[float] = ..., label: _Optional[bool] = ..., threshold: _Optional[float] = ..., target_sensitivity: _Optional[float] = ..., model: _Optional[_Union[_common_pb2.ModelIdentity, _Mapping]] = ..., operating_characteristics: _Optional[_Union[OperatingCharacteristics, _Mapping]] = ...) -> None: ...

class OperatingCharacteristics(_message.Message):
    __slots__ = ("source", "cohort", "split", "patients", "positives", "reliable", "threshold", "sensitivity", "specificity", "ppv", "npv", "auc", "oracle_auc")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    COHORT_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    PATIENTS_FIELD_NUMBER: _ClassVar[int]
    POSITIVES_FIELD_NUMBER: _ClassVar[int]
    RELIABLE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    SPECIFICITY_FIELD_NUMBER: _ClassVar[int]
    PPV_FIELD_NUMBER: _ClassVar[int]
    NPV_FIELD_NUMBER: _ClassVar[int]
    AUC_FIELD_NUMBER: _ClassVar[int]
    ORACLE_AUC_FIELD_NUMBER: _ClassVar[int]
    source: str
    cohort: str
    split: str
    patients: int
    positives: int
    reliable: bool
    threshold: float
    sensitivity: _common_pb2.Proportion
    specificity: _common_pb2.Proportion
    ppv: _common_pb2.Proportion
    npv: _common_pb2.Proportion
    auc: _common_pb2.MetricValue
    oracle_auc: float
    def __init__(self, source: _Optional[str] = ..., cohort: _Optional[str] = ..., split: _Optional[str] = ..., patients: _Optional[int] = ..., positives: _Optional[int] = ..., reliable: _Optional[bool] = ..., threshold: _Optional[float] = ..., sensitivity: _Optional[_Union[_common_pb2.Proportion, _Mapping]] = ..., specificity: _Optional[_Union[_common_pb2.Proportion, _Mapping]] = ..., ppv: _Optional[_Union[_common_pb2.Proportion, _Mapping]] = ..., npv: _Optional[_Union[_common_pb2.Proportion, _Mapping]] = ..., auc: _Optional[_Union[_common_pb2.MetricValue, _Mapping]] = ..., oracle_auc: _Optional[float] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("predictions", "warnings")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[TaskPrediction]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, predictions: _Optional[_Iterable[_Union[TaskPrediction, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...
