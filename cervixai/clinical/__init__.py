"""The clinical schema, its validation, proto mapping and encodings."""

from cervixai.clinical.encode import ClinicalEncoder, EncodingPlan, plan
from cervixai.clinical.schema import BY_NAME, OUTCOME_VARIABLES, VARIABLES, Kind, Stage, Variable
from cervixai.clinical.validate import ClinicalRecord, validate_record

__all__ = [
    "BY_NAME",
    "OUTCOME_VARIABLES",
    "VARIABLES",
    "ClinicalEncoder",
    "ClinicalRecord",
    "EncodingPlan",
    "Kind",
    "Stage",
    "Variable",
    "plan",
    "validate_record",
]
