from cervix.v1 import clinical_pb2 as _clinical_pb2
from cervix.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SurvivalOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SURVIVAL_OUTCOME_UNSPECIFIED: _ClassVar[SurvivalOutcome]
    SURVIVAL_OUTCOME_RFS: _ClassVar[SurvivalOutcome]
    SURVIVAL_OUTCOME_OS: _ClassVar[SurvivalOutcome]
SURVIVAL_OUTCOME_UNSPECIFIED: SurvivalOutcome
SURVIVAL_OUTCOME_RFS: SurvivalOutcome
SURVIVAL_OUTCOME_OS: SurvivalOutcome

class SurvivalRequest(_message.Message):
    __slots__ = ("outcomes", "clinical", "image_features")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FEATURES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedScalarFieldContainer[SurvivalOutcome]
    clinical: _clinical_pb2.ClinicalRecord
    image_features: _common_pb2.ImageFeatures
    def __init__(self, outcomes: _Optional[_Iterable[_Union[SurvivalOutcome, str]]] = ..., clinical: _Optional[_Union[_clinical_pb2.ClinicalRecord, _Mapping]] = ..., image_features: _Optional[_Union[_common_pb2.ImageFeatures, _Mapping]] = ...) -> None: ...

class SurvivalPoint(_message.Message):
    __slots__ = ("months", "probability")
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    months: float
    probability: float
    def __init__(self, months: _Optional[float] = ..., probability: _Optional[float] = ...) -> None: ...

class SurvivalEstimate(_message.Message):
    __slots__ = ("outcome", "median_months", "median_reached", "follow_up_months", "risk_score", "survival_probability_12_months", "survival_probability_36_months", "survival_probability_60_months", "curve", "regression_months", "model", "performance")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_MONTHS_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_REACHED_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UP_MONTHS_FIELD_NUMBER: _ClassVar[int]
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    SURVIVAL_PROBABILITY_12_MONTHS_FIELD_NUMBER: _ClassVar[int]
    SURVIVAL_PROBABILITY_36_MONTHS_FIELD_NUMBER: _ClassVar[int]
    SURVIVAL_PROBABILITY_60_MONTHS_FIELD_NUMBER: _ClassVar[int]
    CURVE_FIELD_NUMBER: _ClassVar[int]
    REGRESSION_MONTHS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PERFORMANCE_FIELD_NUMBER: _ClassVar[int]
    outcome: SurvivalOutcome
    median_months: float
    median_reached: bool
    follow_up_months: float
    risk_score: float
    survival_probability_12_months: float
    survival_probability_36_months: float
    survival_probability_60_months: float
    curve: _containers.RepeatedCompositeFieldContainer[SurvivalPoint]
    regression_months: float
    model: _common_pb2.ModelIdentity
    performance: SurvivalPerformance
    def __init__(self, outcome: _Optional[_Union[SurvivalOutcome, str]] = ..., median_months: _Optional[float] = ..., median_reached: _Optional[bool] = ..., follow_up_months: _Optional[float] = ..., risk_score: _Optional[float] = ..., survival_probability_12_months: _Optional[float] = ..., survival_probability_36_months: _Optional[float] = ..., survival_probability_60_months: _Optional[float] = ..., curve: _Optional[_Iterable[_Union[SurvivalPoint, _Mapping]]] = ..., regression_months: _Optional[float] = ..., model: _Optional[_Union[_common_pb2.ModelIdentity, _Mapping]] = ..., performance: _Optional[_Union[SurvivalPerformance, _Mapping]] = ...) -> None: ...

class SurvivalPerformance(_message.Message):
    __slots__ = ("source", "cohort", "split", "patients", "events", "reliable", "c_index", "integrated_brier_score", "oracle_c_index")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    COHORT_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    PATIENTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    RELIABLE_FIELD_NUMBER: _ClassVar[int]
    C_INDEX_FIELD_NUMBER: _ClassVar[int]
    INTEGRATED_BRIER_SCORE_FIELD_NUMBER: _ClassVar[int]
    ORACLE_C_INDEX_FIELD_NUMBER: _ClassVar[int]
    source: str
    cohort: str
    split: str
    patients: int
    events: int
    reliable: bool
    c_index: _common_pb2.MetricValue
    integrated_brier_score: _common_pb2.MetricValue
    oracle_c_index: float
    def __init__(self, source: _Optional[str] = ..., cohort: _Optional[str] = ..., split: _Optional[str] = ..., patients: _Optional[int] = ..., events: _Optional[int] = ..., reliable: _Optional[bool] = ..., c_index: _Optional[_Union[_common_pb2.MetricValue, _Mapping]] = ..., integrated_brier_score: _Optional[_Union[_common_pb2.MetricValue, _Mapping]] = ..., oracle_c_index: _Optional[float] = ...) -> None: ...

class SurvivalResponse(_message.Message):
    __slots__ = ("estimates", "warnings")
    ESTIMATES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    estimates: _containers.RepeatedCompositeFieldContainer[SurvivalEstimate]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, estimates: _Optional[_Iterable[_Union[SurvivalEstimate, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...
