"""The clinical schema: one declarative definition of every variable the models use.

Everything else is derived from this table: validation (:mod:`cervixai.clinical.validate`), the
mapping to and from the ``cervix.v1.ClinicalRecord`` message (:mod:`cervixai.clinical.proto`),
and the study's encodings (:mod:`cervixai.clinical.encode`). To add a variable, add a row here,
a field to protos/cervix/v1/clinical.proto, and run ``make protos``;
tests/clinical/test_schema.py checks that the two agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """When an assessment is asked for: before or after surgery."""

    PREOPERATIVE = "preoperative"
    POSTOPERATIVE = "postoperative"


class Kind(StrEnum):
    CONTINUOUS = "continuous"
    CATEGORICAL = "categorical"


UNKNOWN = "unknown"
YES_NO = ("no", "yes")


@dataclass(frozen=True)
class Variable:
    """One clinical variable.

    ``levels`` (categorical) are lower-case identifiers; the proto enum value for level ``x`` of
    enum ``E`` is ``E_UPPER_SNAKE + "_" + x.upper()``. A categorical variable with an ``unknown``
    level takes it when the value is not given. ``optional`` continuous variables may be omitted
    (the models impute them). ``stages`` lists the stages whose models read the variable; a record
    may carry any variable at any stage.
    """

    name: str
    kind: Kind
    description: str
    stages: tuple[Stage, ...]
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    levels: tuple[str, ...] = ()
    proto_enum: str | None = None
    optional: bool = False

    def __post_init__(self) -> None:
        if self.kind is Kind.CONTINUOUS:
            if self.minimum is None or self.maximum is None or self.minimum >= self.maximum:
                raise ValueError(f"{self.name}: continuous variables need minimum < maximum")
            if self.levels:
                raise ValueError(f"{self.name}: continuous variables have no levels")
        else:
            if len(self.levels) < 2 or len(set(self.levels)) != len(self.levels):
                raise ValueError(f"{self.name}: need 2+ distinct levels, got {self.levels}")
            if self.proto_enum is None:
                raise ValueError(f"{self.name}: categorical variables need proto_enum")

    @property
    def has_unknown(self) -> bool:
        return UNKNOWN in self.levels

    def required_at(self, stage: Stage) -> bool:
        """Whether a record for ``stage`` must give this variable."""
        return stage in self.stages and not self.optional and not self.has_unknown


PRE = (Stage.PREOPERATIVE, Stage.POSTOPERATIVE)
POST = (Stage.POSTOPERATIVE,)
NONE: tuple[Stage, ...] = ()

# Ranges are plausibility bounds, not the study's ranges: a value outside them is an entry error.
VARIABLES: tuple[Variable, ...] = (
    Variable("age_years", Kind.CONTINUOUS, "Age at diagnosis", PRE, "years", 15, 100),
    Variable("comorbidity", Kind.CATEGORICAL, "Hypertension or diabetes", PRE,
             levels=YES_NO, proto_enum="YesNo"),
    Variable("hpv_status", Kind.CATEGORICAL, "HPV infection and type", PRE,
             levels=("hpv16_18", "other", "negative", UNKNOWN), proto_enum="HpvStatus"),
    Variable("scca_ng_ml", Kind.CONTINUOUS, "Serum squamous-cell carcinoma antigen", PRE,
             "ng/mL", 0, 1000),
    Variable("leep_history", Kind.CATEGORICAL, "Loop electrosurgical excision before treatment",
             PRE, levels=YES_NO, proto_enum="YesNo"),
    Variable("figo_stage", Kind.CATEGORICAL, "FIGO 2009 stage", POST,
             levels=("ia1", "ia2", "ib1", "ib2", "iia1", "iia2", "iib"), proto_enum="FigoStage"),
    Variable("surgery_approach", Kind.CATEGORICAL, "Radical hysterectomy approach", POST,
             levels=("laparoscopic", "robotic", "open"), proto_enum="SurgeryApproach"),
    Variable("operative_time_min", Kind.CONTINUOUS, "Operative time", POST, "min", 10, 1440),
    Variable("blood_loss_ml", Kind.CONTINUOUS, "Intraoperative blood loss", POST, "mL", 0, 10000),
    Variable("transfusion", Kind.CATEGORICAL, "Perioperative transfusion", POST,
             levels=YES_NO, proto_enum="YesNo"),
    Variable("adjuvant_therapy", Kind.CATEGORICAL, "Adjuvant radio- or chemotherapy", POST,
             levels=YES_NO, proto_enum="YesNo"),
    Variable("tumor_size_cm", Kind.CONTINUOUS, "Largest tumour diameter on pathology", POST,
             "cm", 0, 20, optional=True),
    Variable("histology", Kind.CATEGORICAL, "Histological type", POST,
             levels=("squamous", "adenocarcinoma", "adenosquamous", "rare"),
             proto_enum="Histology"),
    Variable("stromal_invasion_depth", Kind.CATEGORICAL, "Depth of cervical stromal invasion", POST,
             levels=("negative", "inner_third", "middle_third", "outer_third"),
             proto_enum="StromalInvasionDepth"),
    Variable("lvsi", Kind.CATEGORICAL, "Lymphovascular space invasion", POST,
             levels=YES_NO, proto_enum="YesNo"),
    Variable("margin_involved", Kind.CATEGORICAL, "Positive surgical margin", POST,
             levels=YES_NO, proto_enum="YesNo"),
    Variable("parametrial_involvement", Kind.CATEGORICAL, "Parametrial involvement on pathology",
             POST, levels=YES_NO, proto_enum="YesNo"),
    Variable("lymph_node_metastasis", Kind.CATEGORICAL, "Lymph node metastasis on pathology", POST,
             levels=("no", "pelvic", "common_iliac", "para_aortic"),
             proto_enum="LymphNodeMetastasis"),
    # Recorded, but not among the study's 21 postoperative model inputs (see encode.py).
    Variable("keratinization", Kind.CATEGORICAL, "Keratinization (squamous carcinoma only)", NONE,
             levels=("yes", "no", "non_squamous", UNKNOWN), proto_enum="Keratinization"),
    Variable("differentiation", Kind.CATEGORICAL, "Tumour differentiation", NONE,
             levels=("low", "intermediate", "high", UNKNOWN), proto_enum="Differentiation"),
    Variable("p53", Kind.CATEGORICAL, "p53 immunostaining", POST,
             levels=("negative", "positive", UNKNOWN), proto_enum="Immunostain"),
    Variable("p16", Kind.CATEGORICAL, "p16 immunostaining", POST,
             levels=("negative", "positive", UNKNOWN), proto_enum="Immunostain"),
    Variable("ki67_index", Kind.CATEGORICAL, "Ki-67 proliferation index (%)", POST,
             levels=("0_20", "20_40", "40_60", "60_80", "80_100", UNKNOWN), proto_enum="Ki67Index"),
)

BY_NAME: dict[str, Variable] = {v.name: v for v in VARIABLES}

# Follow-up outcomes, carried by the cohort format and the Outcomes message; never model inputs.
OUTCOME_VARIABLES: tuple[Variable, ...] = (
    Variable("recurrence", Kind.CATEGORICAL, "Recurrence and its site", NONE,
             levels=("no", "local", "thoracic", "abdominal", "bone"), proto_enum="RecurrenceSite"),
    Variable("death", Kind.CATEGORICAL, "Death during follow-up", NONE,
             levels=YES_NO, proto_enum="YesNo"),
    Variable("rfs_months", Kind.CONTINUOUS, "Recurrence-free survival time", NONE,
             "months", 0, 600),
    Variable("os_months", Kind.CONTINUOUS, "Overall survival time", NONE, "months", 0, 600),
)


def variables_for(stage: Stage) -> tuple[Variable, ...]:
    """The variables that the models of ``stage`` read, in schema order."""
    return tuple(v for v in VARIABLES if stage in v.stages)


def enum_value_name(variable: Variable, level: str) -> str:
    """The proto enum value name of one level: (HpvStatus, hpv16_18) → HPV_STATUS_HPV16_18."""
    if variable.proto_enum is None:
        raise ValueError(f"{variable.name} is not categorical")
    return f"{_upper_snake(variable.proto_enum)}_{level.upper()}"


def _upper_snake(camel: str) -> str:
    """``Ki67Index`` → ``KI67_INDEX``, ``YesNo`` → ``YES_NO``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).upper()
