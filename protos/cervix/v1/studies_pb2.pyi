from cervix.v1 import clinical_pb2 as _clinical_pb2
from cervix.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StudyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STUDY_STATE_UNSPECIFIED: _ClassVar[StudyState]
    STUDY_STATE_RECEIVING: _ClassVar[StudyState]
    STUDY_STATE_AWAITING_CLINICAL: _ClassVar[StudyState]
    STUDY_STATE_AWAITING_IMAGES: _ClassVar[StudyState]
    STUDY_STATE_ASSESSING: _ClassVar[StudyState]
    STUDY_STATE_EXPORTING: _ClassVar[StudyState]
    STUDY_STATE_DONE: _ClassVar[StudyState]
    STUDY_STATE_FAILED: _ClassVar[StudyState]
    STUDY_STATE_EXPIRED: _ClassVar[StudyState]

class ExportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_STATE_UNSPECIFIED: _ClassVar[ExportState]
    EXPORT_STATE_PENDING: _ClassVar[ExportState]
    EXPORT_STATE_SENT: _ClassVar[ExportState]
    EXPORT_STATE_REJECTED: _ClassVar[ExportState]
    EXPORT_STATE_GAVE_UP: _ClassVar[ExportState]
STUDY_STATE_UNSPECIFIED: StudyState
STUDY_STATE_RECEIVING: StudyState
STUDY_STATE_AWAITING_CLINICAL: StudyState
STUDY_STATE_AWAITING_IMAGES: StudyState
STUDY_STATE_ASSESSING: StudyState
STUDY_STATE_EXPORTING: StudyState
STUDY_STATE_DONE: StudyState
STUDY_STATE_FAILED: StudyState
STUDY_STATE_EXPIRED: StudyState
EXPORT_STATE_UNSPECIFIED: ExportState
EXPORT_STATE_PENDING: ExportState
EXPORT_STATE_SENT: ExportState
EXPORT_STATE_REJECTED: ExportState
EXPORT_STATE_GAVE_UP: ExportState

class StoreInstanceRequest(_message.Message):
    __slots__ = ("dicom", "study_instance_uid")
    DICOM_FIELD_NUMBER: _ClassVar[int]
    STUDY_INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    dicom: bytes
    study_instance_uid: str
    def __init__(self, dicom: _Optional[bytes] = ..., study_instance_uid: _Optional[str] = ...) -> None: ...

class StoreInstanceResult(_message.Message):
    __slots__ = ("stored", "failure_reason", "error", "sop_class_uid", "sop_instance_uid")
    STORED_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SOP_CLASS_UID_FIELD_NUMBER: _ClassVar[int]
    SOP_INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    stored: bool
    failure_reason: int
    error: str
    sop_class_uid: str
    sop_instance_uid: str
    def __init__(self, stored: _Optional[bool] = ..., failure_reason: _Optional[int] = ..., error: _Optional[str] = ..., sop_class_uid: _Optional[str] = ..., sop_instance_uid: _Optional[str] = ...) -> None: ...

class StudyRef(_message.Message):
    __slots__ = ("study_instance_uid", "accession_number")
    STUDY_INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    ACCESSION_NUMBER_FIELD_NUMBER: _ClassVar[int]
    study_instance_uid: str
    accession_number: str
    def __init__(self, study_instance_uid: _Optional[str] = ..., accession_number: _Optional[str] = ...) -> None: ...

class PutClinicalRequest(_message.Message):
    __slots__ = ("study", "stage", "clinical")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_FIELD_NUMBER: _ClassVar[int]
    study: StudyRef
    stage: _common_pb2.Stage
    clinical: _clinical_pb2.ClinicalRecord
    def __init__(self, study: _Optional[_Union[StudyRef, _Mapping]] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., clinical: _Optional[_Union[_clinical_pb2.ClinicalRecord, _Mapping]] = ...) -> None: ...

class Export(_message.Message):
    __slots__ = ("kind", "destination", "state", "attempts", "last_status")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    destination: str
    state: ExportState
    attempts: int
    last_status: str
    def __init__(self, kind: _Optional[str] = ..., destination: _Optional[str] = ..., state: _Optional[_Union[ExportState, str]] = ..., attempts: _Optional[int] = ..., last_status: _Optional[str] = ...) -> None: ...

class StudyStatus(_message.Message):
    __slots__ = ("state", "instances", "series", "bytes", "clinical_received", "stage", "request_id", "exports", "error", "received_at", "updated_at")
    STATE_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    state: StudyState
    instances: int
    series: int
    bytes: int
    clinical_received: bool
    stage: _common_pb2.Stage
    request_id: str
    exports: _containers.RepeatedCompositeFieldContainer[Export]
    error: str
    received_at: float
    updated_at: float
    def __init__(self, state: _Optional[_Union[StudyState, str]] = ..., instances: _Optional[int] = ..., series: _Optional[int] = ..., bytes: _Optional[int] = ..., clinical_received: _Optional[bool] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., request_id: _Optional[str] = ..., exports: _Optional[_Iterable[_Union[Export, _Mapping]]] = ..., error: _Optional[str] = ..., received_at: _Optional[float] = ..., updated_at: _Optional[float] = ...) -> None: ...
