"""Sending every patient of an evaluation through the gateway, a few at a time, and scoring each
reply's mask against the ground truth.

A patient whose assessment fails is kept as a :class:`Failure` (named by its index, with the
gateway's status and code) and counted in the report; it is never dropped silently. Log lines name
patients by index only and carry no clinical value, DICOM identifier or patient id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cervixai.evaluate.clients import AssessmentFailed, Assessor
from cervixai.evaluate.cohort import Patient, truth_mask
from cervixai.evaluate.metrics import dice
from cervixai.evaluate.reply import MalformedReply, Served, parse_reply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """Why one patient has no served result (``stage`` request/reply) or no Dice (``truth``)."""

    index: int
    patient_id: str
    stage: str
    reason: str
    status: int | str | None = None
    code: str = ""
    fields: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "patient_id": self.patient_id, "stage": self.stage,
                "reason": self.reason, "status": self.status, "code": self.code,
                "fields": list(self.fields)}


@dataclass(frozen=True)
class PatientResult:
    patient: Patient
    served: Served | None = None
    dice: float | None = None
    failure: Failure | None = None


def assess_patients(patients: Sequence[Patient], assessor: Assessor, *,
                    concurrency: int = 2) -> list[PatientResult]:
    """Every patient's result, in the order given; at most ``concurrency`` requests in flight."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    total = len(patients)
    done = {"n": 0}
    lock = threading.Lock()

    def one(patient: Patient) -> PatientResult:
        result = _assess_one(patient, assessor, total)
        with lock:
            done["n"] += 1
            if done["n"] % 10 == 0 or done["n"] == total:
                log.info("assessed %d of %d patients through the gateway (%s)", done["n"], total,
                         assessor.api)
        return result

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="evaluate") as pool:
        return list(pool.map(one, patients))


def _assess_one(patient: Patient, assessor: Assessor, total: int) -> PatientResult:
    from cervixai.clinical.schema import Stage
    from cervixai.cohort import format as cf
    from cervixai.dicom.sources import read_sources

    def failed(stage: str, reason: str, error: AssessmentFailed | None = None) -> Failure:
        log.warning("patient #%d of %d: %s failed: %s", patient.index, total, stage, reason)
        return Failure(patient.index, patient.patient_id, stage, reason,
                       error.status if error else None, error.code if error else "",
                       list(error.fields) if error else [])

    try:
        record = cf.record_of(patient.row, Stage.POSTOPERATIVE)
        files = read_sources(patient.images)
    except Exception as e:  # messages may quote file names or values: the type only
        return PatientResult(patient, failure=failed("request", f"cannot read the patient's "
                                                                f"files ({type(e).__name__})"))
    try:
        served = parse_reply(assessor.assess(record, files))
    except AssessmentFailed as e:
        return PatientResult(patient, failure=failed("request", e.reason, e))
    except MalformedReply as e:
        return PatientResult(patient, failure=failed("reply", str(e)))
    try:
        truth, _ = truth_mask(patient)
    except Exception as e:
        return PatientResult(patient, served, failure=failed(
            "truth", f"cannot read the ground-truth mask ({type(e).__name__})"))
    if truth.shape != served.mask.shape:
        return PatientResult(patient, served, failure=failed(
            "truth", f"served mask {served.mask.shape} and ground truth {truth.shape} differ "
                     f"in shape"))
    return PatientResult(patient, served, dice(truth, served.mask))
