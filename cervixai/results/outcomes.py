"""What a result object says, independent of its format: each risk and survival estimate of an
assessment as (code, meaning, probability, model, threshold), read once from the reply.

No standard code names "probability of parametrial invasion" or "probability of recurrence by
36 months", so the outcomes are coded in cervixai's own coding scheme (designator
``99CERVIXAI``: the ``99`` prefix DICOM PS3.16 reserves for private schemes; FHIR system
:data:`FHIR_SYSTEM`), with the standard concept of the quantity beside it where one exists
(DCM 122157 *Probability*).
"""

from __future__ import annotations

from dataclasses import dataclass

from cervix.v1 import common_pb2, gateway_pb2, survival_pb2

SCHEME = "99CERVIXAI"
SCHEME_NAME = "cervixai outcome codes"
FHIR_SYSTEM = "https://github.com/cervixai/cervixai/outcomes"
HORIZONS_MONTHS = (12, 36, 60)

TASK_MEANINGS = {
    common_pb2.TASK_PARAMETRIAL_INVASION: ("parametrial-invasion", "parametrial invasion"),
    common_pb2.TASK_LYMPH_NODE_METASTASIS: ("lymph-node-metastasis", "lymph node metastasis"),
    common_pb2.TASK_RECURRENCE: ("recurrence", "recurrence"),
    common_pb2.TASK_DEATH: ("death", "death"),
}
SURVIVAL_MEANINGS = {
    survival_pb2.SURVIVAL_OUTCOME_RFS: ("recurrence-or-death", "recurrence or death (RFS event)"),
    survival_pb2.SURVIVAL_OUTCOME_OS: ("death-any-cause", "death from any cause (OS event)"),
}


@dataclass(frozen=True)
class Risk:
    """One probability the assessment states."""

    code: str                    # in SCHEME: "parametrial-invasion", "recurrence-or-death-36m"
    meaning: str                 # "Probability of parametrial invasion"
    probability: float
    model: common_pb2.ModelIdentity
    threshold: float | None      # the classifier's operating threshold (None for survival)
    above_threshold: bool | None
    months: int | None = None    # for survival: the event by this many months


def risks(response: gateway_pb2.AssessResponse) -> list[Risk]:
    """The classifier's risks, then each survival outcome's event probability by 12, 36 and 60
    months (1 − S(t)), in the reply's order."""
    out = []
    for p in response.predictions:
        code, meaning = TASK_MEANINGS[p.task]
        out.append(Risk(code, f"Probability of {meaning}", float(p.probability), p.model,
                        float(p.threshold), bool(p.label)))
    for estimate in response.survival:
        code, meaning = SURVIVAL_MEANINGS[estimate.outcome]
        for months in HORIZONS_MONTHS:
            surviving = getattr(estimate, f"survival_probability_{months}_months")
            out.append(Risk(f"{code}-{months}m",
                            f"Probability of {meaning} within {months} months",
                            1.0 - float(surviving), estimate.model, None, None, months))
    return out
