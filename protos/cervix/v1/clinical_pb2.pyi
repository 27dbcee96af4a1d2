from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class YesNo(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    YES_NO_UNSPECIFIED: _ClassVar[YesNo]
    YES_NO_NO: _ClassVar[YesNo]
    YES_NO_YES: _ClassVar[YesNo]

class FigoStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIGO_STAGE_UNSPECIFIED: _ClassVar[FigoStage]
    FIGO_STAGE_IA1: _ClassVar[FigoStage]
    FIGO_STAGE_IA2: _ClassVar[FigoStage]
    FIGO_STAGE_IB1: _ClassVar[FigoStage]
    FIGO_STAGE_IB2: _ClassVar[FigoStage]
    FIGO_STAGE_IIA1: _ClassVar[FigoStage]
    FIGO_STAGE_IIA2: _ClassVar[FigoStage]
    FIGO_STAGE_IIB: _ClassVar[FigoStage]

class HpvStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HPV_STATUS_UNSPECIFIED: _ClassVar[HpvStatus]
    HPV_STATUS_HPV16_18: _ClassVar[HpvStatus]
    HPV_STATUS_OTHER: _ClassVar[HpvStatus]
    HPV_STATUS_NEGATIVE: _ClassVar[HpvStatus]
    HPV_STATUS_UNKNOWN: _ClassVar[HpvStatus]

class SurgeryApproach(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SURGERY_APPROACH_UNSPECIFIED: _ClassVar[SurgeryApproach]
    SURGERY_APPROACH_LAPAROSCOPIC: _ClassVar[SurgeryApproach]
    SURGERY_APPROACH_ROBOTIC: _ClassVar[SurgeryApproach]
    SURGERY_APPROACH_OPEN: _ClassVar[SurgeryApproach]

class Histology(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HISTOLOGY_UNSPECIFIED: _ClassVar[Histology]
    HISTOLOGY_SQUAMOUS: _ClassVar[Histology]
    HISTOLOGY_ADENOCARCINOMA: _ClassVar[Histology]
    HISTOLOGY_ADENOSQUAMOUS: _ClassVar[Histology]
    HISTOLOGY_RARE: _ClassVar[Histology]

class StromalInvasionDepth(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STROMAL_INVASION_DEPTH_UNSPECIFIED: _ClassVar[StromalInvasionDepth]
    STROMAL_INVASION_DEPTH_NEGATIVE: _ClassVar[StromalInvasionDepth]
    STROMAL_INVASION_DEPTH_INNER_THIRD: _ClassVar[StromalInvasionDepth]
    STROMAL_INVASION_DEPTH_MIDDLE_THIRD: _ClassVar[StromalInvasionDepth]
    STROMAL_INVASION_DEPTH_OUTER_THIRD: _ClassVar[StromalInvasionDepth]

class LymphNodeMetastasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LYMPH_NODE_METASTASIS_UNSPECIFIED: _ClassVar[LymphNodeMetastasis]
    LYMPH_NODE_METASTASIS_NO: _ClassVar[LymphNodeMetastasis]
    LYMPH_NODE_METASTASIS_PELVIC: _ClassVar[LymphNodeMetastasis]
    LYMPH_NODE_METASTASIS_COMMON_ILIAC: _ClassVar[LymphNodeMetastasis]
    LYMPH_NODE_METASTASIS_PARA_AORTIC: _ClassVar[LymphNodeMetastasis]

class Keratinization(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KERATINIZATION_UNSPECIFIED: _ClassVar[Keratinization]
    KERATINIZATION_YES: _ClassVar[Keratinization]
    KERATINIZATION_NO: _ClassVar[Keratinization]
    KERATINIZATION_NON_SQUAMOUS: _ClassVar[Keratinization]
    KERATINIZATION_UNKNOWN: _ClassVar[Keratinization]

class Differentiation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIFFERENTIATION_UNSPECIFIED: _ClassVar[Differentiation]
    DIFFERENTIATION_LOW: _ClassVar[Differentiation]
    DIFFERENTIATION_INTERMEDIATE: _ClassVar[Differentiation]
    DIFFERENTIATION_HIGH: _ClassVar[Differentiation]
    DIFFERENTIATION_UNKNOWN: _ClassVar[Differentiation]

class Immunostain(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMMUNOSTAIN_UNSPECIFIED: _ClassVar[Immunostain]
    IMMUNOSTAIN_NEGATIVE: _ClassVar[Immunostain]
    IMMUNOSTAIN_POSITIVE: _ClassVar[Immunostain]
    IMMUNOSTAIN_UNKNOWN: _ClassVar[Immunostain]

class Ki67Index(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KI67_INDEX_UNSPECIFIED: _ClassVar[Ki67Index]
    KI67_INDEX_0_20: _ClassVar[Ki67Index]
    KI67_INDEX_20_40: _ClassVar[Ki67Index]
    KI67_INDEX_40_60: _ClassVar[Ki67Index]
    KI67_INDEX_60_80: _ClassVar[Ki67Index]
    KI67_INDEX_80_100: _ClassVar[Ki67Index]
    KI67_INDEX_UNKNOWN: _ClassVar[Ki67Index]

class RecurrenceSite(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECURRENCE_SITE_UNSPECIFIED: _ClassVar[RecurrenceSite]
    RECURRENCE_SITE_NO: _ClassVar[RecurrenceSite]
    RECURRENCE_SITE_LOCAL: _ClassVar[RecurrenceSite]
    RECURRENCE_SITE_THORACIC: _ClassVar[RecurrenceSite]
    RECURRENCE_SITE_ABDOMINAL: _ClassVar[RecurrenceSite]
    RECURRENCE_SITE_BONE: _ClassVar[RecurrenceSite]
YES_NO_UNSPECIFIED: YesNo
YES_NO_NO: YesNo
YES_NO_YES: YesNo
FIGO_STAGE_UNSPECIFIED: FigoStage
FIGO_STAGE_IA1: FigoStage
FIGO_STAGE_IA2: FigoStage
FIGO_STAGE_IB1: FigoStage
FIGO_STAGE_IB2: FigoStage
FIGO_STAGE_IIA1: FigoStage
FIGO_STAGE_IIA2: FigoStage
FIGO_STAGE_IIB: FigoStage
HPV_STATUS_UNSPECIFIED: HpvStatus
HPV_STATUS_HPV16_18: HpvStatus
HPV_STATUS_OTHER: HpvStatus
HPV_STATUS_NEGATIVE: HpvStatus
HPV_STATUS_UNKNOWN: HpvStatus
SURGERY_APPROACH_UNSPECIFIED: SurgeryApproach
SURGERY_APPROACH_LAPAROSCOPIC: SurgeryApproach
SURGERY_APPROACH_ROBOTIC: SurgeryApproach
SURGERY_APPROACH_OPEN: SurgeryApproach
HISTOLOGY_UNSPECIFIED: Histology
HISTOLOGY_SQUAMOUS: Histology
HISTOLOGY_ADENOCARCINOMA: Histology
HISTOLOGY_ADENOSQUAMOUS: Histology
HISTOLOGY_RARE: Histology
STROMAL_INVASION_DEPTH_UNSPECIFIED: StromalInvasionDepth
STROMAL_INVASION_DEPTH_NEGATIVE: StromalInvasionDepth
STROMAL_INVASION_DEPTH_INNER_THIRD: StromalInvasionDepth
STROMAL_INVASION_DEPTH_MIDDLE_THIRD: StromalInvasionDepth
STROMAL_INVASION_DEPTH_OUTER_THIRD: StromalInvasionDepth
LYMPH_NODE_METASTASIS_UNSPECIFIED: LymphNodeMetastasis
LYMPH_NODE_METASTASIS_NO: LymphNodeMetastasis
LYMPH_NODE_METASTASIS_PELVIC: LymphNodeMetastasis
LYMPH_NODE_METASTASIS_COMMON_ILIAC: LymphNodeMetastasis
LYMPH_NODE_METASTASIS_PARA_AORTIC: LymphNodeMetastasis
KERATINIZATION_UNSPECIFIED: Keratinization
KERATINIZATION_YES: Keratinization
KERATINIZATION_NO: Keratinization
KERATINIZATION_NON_SQUAMOUS: Keratinization
KERATINIZATION_UNKNOWN: Keratinization
DIFFERENTIATION_UNSPECIFIED: Differentiation
DIFFERENTIATION_LOW: Differentiation
DIFFERENTIATION_INTERMEDIATE: Differentiation
DIFFERENTIATION_HIGH: Differentiation
DIFFERENTIATION_UNKNOWN: Differentiation
IMMUNOSTAIN_UNSPECIFIED: Immunostain
IMMUNOSTAIN_NEGATIVE: Immunostain
IMMUNOSTAIN_POSITIVE: Immunostain
IMMUNOSTAIN_UNKNOWN: Immunostain
KI67_INDEX_UNSPECIFIED: Ki67Index
KI67_INDEX_0_20: Ki67Index
KI67_INDEX_20_40: Ki67Index
KI67_INDEX_40_60: Ki67Index
KI67_INDEX_60_80: Ki67Index
KI67_INDEX_80_100: Ki67Index
KI67_INDEX_UNKNOWN: Ki67Index
RECURRENCE_SITE_UNSPECIFIED: RecurrenceSite
RECURRENCE_SITE_NO: RecurrenceSite
RECURRENCE_SITE_LOCAL: RecurrenceSite
RECURRENCE_SITE_THORACIC: RecurrenceSite
RECURRENCE_SITE_ABDOMINAL: RecurrenceSite
RECURRENCE_SITE_BONE: RecurrenceSite

class ClinicalRecord(_message.Message):
    __slots__ = ("age_years", "comorbidity", "hpv_status", "scca_ng_ml", "leep_history", "figo_stage", "surgery_approach", "operative_time_min", "blood_loss_ml", "transfusion", "adjuvant_therapy", "tumor_size_cm", "histology", "stromal_invasion_depth", "lvsi", "margin_involved", "parametrial_involvement", "lymph_node_metastasis", "keratinization", "differentiation", "p53", "p16", "ki67_index")
    AGE_YEARS_FIELD_NUMBER: _ClassVar[int]
    COMORBIDITY_FIELD_NUMBER: _ClassVar[int]
    HPV_STATUS_FIELD_NUMBER: _ClassVar[int]
    SCCA_NG_ML_FIELD_NUMBER: _ClassVar[int]
    LEEP_HISTORY_FIELD_NUMBER: _ClassVar[int]
    FIGO_STAGE_FIELD_NUMBER: _ClassVar[int]
    SURGERY_APPROACH_FIELD_NUMBER: _ClassVar[int]
    OPERATIVE_TIME_MIN_FIELD_NUMBER: _ClassVar[int]
    BLOOD_LOSS_ML_FIELD_NUMBER: _ClassVar[int]
    TRANSFUSION_FIELD_NUMBER: _ClassVar[int]
    ADJUVANT_THERAPY_FIELD_NUMBER: _ClassVar[int]
    TUMOR_SIZE_CM_FIELD_NUMBER: _ClassVar[int]
    HISTOLOGY_FIELD_NUMBER: _ClassVar[int]
    STROMAL_INVASION_DEPTH_FIELD_NUMBER: _ClassVar[int]
    LVSI_FIELD_NUMBER: _ClassVar[int]
    MARGIN_INVOLVED_FIELD_NUMBER: _ClassVar[int]
    PARAMETRIAL_INVOLVEMENT_FIELD_NUMBER: _ClassVar[int]
    LYMPH_NODE_METASTASIS_FIELD_NUMBER: _ClassVar[int]
    KERATINIZATION_FIELD_NUMBER: _ClassVar[int]
    DIFFERENTIATION_FIELD_NUMBER: _ClassVar[int]
    P53_FIELD_NUMBER: _ClassVar[int]
    P16_FIELD_NUMBER: _ClassVar[int]
    KI67_INDEX_FIELD_NUMBER: _ClassVar[int]
    age_years: float
    comorbidity: YesNo
    hpv_status: HpvStatus
    scca_ng_ml: float
    leep_history: YesNo
    figo_stage: FigoStage
    surgery_approach: SurgeryApproach
    operative_time_min: float
    blood_loss_ml: float
    transfusion: YesNo
    adjuvant_therapy: YesNo
    tumor_size_cm: float
    histology: Histology
    stromal_invasion_depth: StromalInvasionDepth
    lvsi: YesNo
    margin_involved: YesNo
    parametrial_involvement: YesNo
    lymph_node_metastasis: LymphNodeMetastasis
    keratinization: Keratinization
    differentiation: Differentiation
    p53: Immunostain
    p16: Immunostain
    ki67_index: Ki67Index
    def __init__(self, age_years: _Optional[float] = ..., comorbidity: _Optional[_Union[YesNo, str]] = ..., hpv_status: _Optional[_Union[HpvStatus, str]] = ..., scca_ng_ml: _Optional[float] = ..., leep_history: _Optional[_Union[YesNo, str]] = ..., figo_stage: _Optional[_Union[FigoStage, str]] = ..., surgery_approach: _Optional[_Union[SurgeryApproach, str]] = ..., operative_time_min: _Optional[float] = ..., blood_loss_ml: _Optional[float] = ..., transfusion: _Optional[_Union[YesNo, str]] = ..., adjuvant_therapy: _Optional[_Union[YesNo, str]] = ..., tumor_size_cm: _Optional[float] = ..., histology: _Optional[_Union[Histology, str]] = ..., stromal_invasion_depth: _Optional[_Union[StromalInvasionDepth, str]] = ..., lvsi: _Optional[_Union[YesNo, str]] = ..., margin_involved: _Optional[_Union[YesNo, str]] = ..., parametrial_involvement: _Optional[_Union[YesNo, str]] = ..., lymph_node_metastasis: _Optional[_Union[LymphNodeMetastasis, str]] = ..., keratinization: _Optional[_Union[Keratinization, str]] = ..., differentiation: _Optional[_Union[Differentiation, str]] = ..., p53: _Optional[_Union[Immunostain, str]] = ..., p16: _Optional[_Union[Immunostain, str]] = ..., ki67_index: _Optional[_Union[Ki67Index, str]] = ...) -> None: ...

class Outcomes(_message.Message):
    __slots__ = ("recurrence", "death", "rfs_months", "rfs_event", "os_months", "os_event")
    RECURRENCE_FIELD_NUMBER: _ClassVar[int]
    DEATH_FIELD_NUMBER: _ClassVar[int]
    RFS_MONTHS_FIELD_NUMBER: _ClassVar[int]
    RFS_EVENT_FIELD_NUMBER: _ClassVar[int]
    OS_MONTHS_FIELD_NUMBER: _ClassVar[int]
    OS_EVENT_FIELD_NUMBER: _ClassVar[int]
    recurrence: RecurrenceSite
    death: YesNo
    rfs_months: float
    rfs_event: bool
    os_months: float
    os_event: bool
    def __init__(self, recurrence: _Optional[_Union[RecurrenceSite, str]] = ..., death: _Optional[_Union[YesNo, str]] = ..., rfs_months: _Optional[float] = ..., rfs_event: _Optional[bool] = ..., os_months: _Optional[float] = ..., os_event: _Optional[bool] = ...) -> None: ...
