from cervix.v1 import classifier_pb2 as _classifier_pb2
from cervix.v1 import clinical_pb2 as _clinical_pb2
from cervix.v1 import common_pb2 as _common_pb2
from cervix.v1 import survival_pb2 as _survival_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResultKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_KIND_UNSPECIFIED: _ClassVar[ResultKind]
    RESULT_KIND_DICOM_SEG: _ClassVar[ResultKind]
    RESULT_KIND_DICOM_SR: _ClassVar[ResultKind]
    RESULT_KIND_FHIR: _ClassVar[ResultKind]
RESULT_KIND_UNSPECIFIED: ResultKind
RESULT_KIND_DICOM_SEG: ResultKind
RESULT_KIND_DICOM_SR: ResultKind
RESULT_KIND_FHIR: ResultKind

class DicomFile(_message.Message):
    __slots__ = ("name", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: bytes
    def __init__(self, name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class AssessRequest(_message.Message):
    __slots__ = ("stage", "clinical", "dicom_files", "dicom_zip", "results", "subject_reference")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_FIELD_NUMBER: _ClassVar[int]
    DICOM_FILES_FIELD_NUMBER: _ClassVar[int]
    DICOM_ZIP_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    stage: _common_pb2.Stage
    clinical: _clinical_pb2.ClinicalRecord
    dicom_files: _containers.RepeatedCompositeFieldContainer[DicomFile]
    dicom_zip: bytes
    results: _containers.RepeatedScalarFieldContainer[ResultKind]
    subject_reference: str
    def __init__(self, stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., clinical: _Optional[_Union[_clinical_pb2.ClinicalRecord, _Mapping]] = ..., dicom_files: _Optional[_Iterable[_Union[DicomFile, _Mapping]]] = ..., dicom_zip: _Optional[bytes] = ..., results: _Optional[_Iterable[_Union[ResultKind, str]]] = ..., subject_reference: _Optional[str] = ...) -> None: ...

class AssessHeader(_message.Message):
    __slots__ = ("stage", "clinical", "results", "subject_reference")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    stage: _common_pb2.Stage
    clinical: _clinical_pb2.ClinicalRecord
    results: _containers.RepeatedScalarFieldContainer[ResultKind]
    subject_reference: str
    def __init__(self, stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., clinical: _Optional[_Union[_clinical_pb2.ClinicalRecord, _Mapping]] = ..., results: _Optional[_Iterable[_Union[ResultKind, str]]] = ..., subject_reference: _Optional[str] = ...) -> None: ...

class ResultObject(_message.Message):
    __slots__ = ("kind", "media_type", "filename", "content")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    kind: ResultKind
    media_type: str
    filename: str
    content: bytes
    def __init__(self, kind: _Optional[_Union[ResultKind, str]] = ..., media_type: _Optional[str] = ..., filename: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class DicomFileChunk(_message.Message):
    __slots__ = ("name", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: bytes
    def __init__(self, name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class AssessChunk(_message.Message):
    __slots__ = ("header", "file_chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    FILE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: AssessHeader
    file_chunk: DicomFileChunk
    def __init__(self, header: _Optional[_Union[AssessHeader, _Mapping]] = ..., file_chunk: _Optional[_Union[DicomFileChunk, _Mapping]] = ...) -> None: ...

class SeriesSummary(_message.Message):
    __slots__ = ("modality", "orientation", "slices", "original_rows", "original_columns", "in_plane_handling", "manufacturer", "transfer_syntaxes", "geometry")
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    ORIENTATION_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    IN_PLANE_HANDLING_FIELD_NUMBER: _ClassVar[int]
    MANUFACTURER_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_SYNTAXES_FIELD_NUMBER: _ClassVar[int]
    GEOMETRY_FIELD_NUMBER: _ClassVar[int]
    modality: str
    orientation: str
    slices: int
    original_rows: int
    original_columns: int
    in_plane_handling: str
    manufacturer: str
    transfer_syntaxes: _containers.RepeatedScalarFieldContainer[str]
    geometry: _common_pb2.VolumeGeometry
    def __init__(self, modality: _Optional[str] = ..., orientation: _Optional[str] = ..., slices: _Optional[int] = ..., original_rows: _Optional[int] = ..., original_columns: _Optional[int] = ..., in_plane_handling: _Optional[str] = ..., manufacturer: _Optional[str] = ..., transfer_syntaxes: _Optional[_Iterable[str]] = ..., geometry: _Optional[_Union[_common_pb2.VolumeGeometry, _Mapping]] = ...) -> None: ...

class Segmentation(_message.Message):
    __slots__ = ("mask", "measurements", "provider", "model")
    MASK_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    mask: _common_pb2.Mask
    measurements: _common_pb2.LesionMeasurements
    provider: str
    model: _common_pb2.ModelIdentity
    def __init__(self, mask: _Optional[_Union[_common_pb2.Mask, _Mapping]] = ..., measurements: _Optional[_Union[_common_pb2.LesionMeasurements, _Mapping]] = ..., provider: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ModelIdentity, _Mapping]] = ...) -> None: ...

class AssessResponse(_message.Message):
    __slots__ = ("request_id", "stage", "series", "segmentation", "predictions", "survival", "warnings", "timings", "models", "result_objects")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    SURVIVAL_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    RESULT_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    stage: _common_pb2.Stage
    series: SeriesSummary
    segmentation: Segmentation
    predictions: _containers.RepeatedCompositeFieldContainer[_classifier_pb2.TaskPrediction]
    survival: _containers.RepeatedCompositeFieldContainer[_survival_pb2.SurvivalEstimate]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    timings: _containers.RepeatedCompositeFieldContainer[_common_pb2.StageTiming]
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelIdentity]
    result_objects: _containers.RepeatedCompositeFieldContainer[ResultObject]
    def __init__(self, request_id: _Optional[str] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., series: _Optional[_Union[SeriesSummary, _Mapping]] = ..., segmentation: _Optional[_Union[Segmentation, _Mapping]] = ..., predictions: _Optional[_Iterable[_Union[_classifier_pb2.TaskPrediction, _Mapping]]] = ..., survival: _Optional[_Iterable[_Union[_survival_pb2.SurvivalEstimate, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., timings: _Optional[_Iterable[_Union[_common_pb2.StageTiming, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelIdentity, _Mapping]]] = ..., result_objects: _Optional[_Iterable[_Union[ResultObject, _Mapping]]] = ...) -> None: ...
