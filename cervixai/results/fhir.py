"""Measurements and risks as a FHIR R4 Bundle (``fhir.resources``' R4B models).

fhir.resources 8 models R5 by default; its ``R4B`` package is the one that models R4's
resources (R4B changed none of the resources used here: Bundle, DiagnosticReport, Observation,
RiskAssessment, Device), so the JSON is R4. A ``collection`` Bundle holds:

* a ``Device`` per model (name, version = its sha256 prefix) — the ``method``/``device`` of the
  others;
* an ``Observation`` per lesion measurement: volume (UCUM ``mL``), largest diameter (``mm``);
* one ``RiskAssessment`` whose ``prediction[]`` carries each outcome with
  ``probabilityDecimal``: the classifier's risks, and for each survival outcome the probability
  of the event within 12, 36 and 60 months (``whenRange`` 0 to t months); its ``basis`` the
  measurements;
* a ``DiagnosticReport`` grouping the observations and the risk assessment.

References inside the bundle are ``urn:uuid:`` full URLs. The subject is the reference the
caller gives (opaque: copied, never logged); without one, a display-only placeholder
(:data:`PLACEHOLDER_SUBJECT`) that the receiving system replaces.
"""

from __future__ import annotations

import uuid
from typing import Any

from cervix.v1 import common_pb2, gateway_pb2
from cervixai.results.outcomes import FHIR_SYSTEM, risks

PLACEHOLDER_SUBJECT = "patient not given: the receiving system sets the subject"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


def build_fhir(response: gateway_pb2.AssessResponse, subject: str = "") -> dict[str, Any]:
    """The Bundle of ``response`` as FHIR JSON (a dict), validated by the R4B models."""
    from fhir.resources.R4B.bundle import Bundle

    subject_ref: dict[str, str] = ({"reference": subject} if subject
                                   else {"display": PLACEHOLDER_SUBJECT})
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> str:
        url = f"urn:uuid:{uuid.uuid4()}"
        entries.append({"fullUrl": url, "resource": resource})
        return url

    devices = {(m.name, m.version): add(_device(m)) for m in _models(response)}

    def device(model: common_pb2.ModelIdentity) -> dict[str, str]:
        return {"reference": devices[(model.name, model.version)]}

    seg = response.segmentation
    observations = [add(_observation(code, meaning, value, unit, subject_ref,
                                     device(seg.model)))
                    for code, meaning, value, unit in (
                        ("118565006", "Volume", seg.measurements.volume_ml, "mL"),
                        ("81827009", "Diameter", seg.measurements.max_diameter_mm, "mm"))]
    predictions = []
    for risk in risks(response):
        prediction: dict[str, Any] = {
            "outcome": {"coding": [{"system": FHIR_SYSTEM, "code": risk.code,
                                    "display": risk.meaning}], "text": risk.meaning},
            "probabilityDecimal": round(risk.probability, 6),
            "rationale": (f"model {risk.model.name} {risk.model.version}"
                          + (f"; operating threshold {risk.threshold:.4g}, "
                             f"{'above' if risk.above_threshold else 'below'} it"
                             if risk.threshold is not None else "")),
        }
        if risk.months is not None:
            prediction["whenRange"] = {
                "low": {"value": 0, "unit": "mo", "system": UCUM, "code": "mo"},
                "high": {"value": risk.months, "unit": "mo", "system": UCUM, "code": "mo"}}
        predictions.append(prediction)
    assessment = add({
        "resourceType": "RiskAssessment", "status": "preliminary", "subject": subject_ref,
        "method": {"text": "cervixai: MR radiomics and clinical models (Li et al., JMIR Cancer "
                           "2025)"},
        "code": {"text": "Cervical cancer risk assessment"},
        "basis": [{"reference": o} for o in observations],
        "prediction": predictions,
        "note": [{"text": w} for w in response.warnings] or None,
    })
    add({
        "resourceType": "DiagnosticReport", "status": "preliminary", "subject": subject_ref,
        "code": {"coding": [{"system": LOINC, "code": "18748-4",
                             "display": "Diagnostic imaging study"}],
                 "text": "cervixai MR assessment"},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                  "code": "RAD", "display": "Radiology"}]}],
        "result": [{"reference": o} for o in observations],
        "conclusion": f"See the RiskAssessment {assessment}",
    })
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "collection",
                                    "entry": [_drop_none(e) for e in entries]})
    document: dict[str, Any] = bundle.model_dump(mode="json", exclude_none=True)
    return document


def _models(response: gateway_pb2.AssessResponse) -> list[common_pb2.ModelIdentity]:
    seen: dict[tuple[str, str], common_pb2.ModelIdentity] = {}
    for m in [response.segmentation.model, *(p.model for p in response.predictions),
              *(e.model for e in response.survival)]:
        seen.setdefault((m.name, m.version), m)
    return list(seen.values())


def _device(model: common_pb2.ModelIdentity) -> dict[str, Any]:
    return {"resourceType": "Device",
            "deviceName": [{"name": f"cervixai {model.name}", "type": "model-name"}],
            "version": [{"value": model.version or "unknown"}],
            "note": [{"text": f"{model.algorithm or 'model'}; sha256 {model.sha256}"}]
            if model.sha256 else None}


def _observation(code: str, meaning: str, value: float, unit: str,
                 subject: dict[str, str], device: dict[str, str]) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "preliminary", "subject": subject,
            "code": {"coding": [{"system": SNOMED, "code": code, "display": meaning}],
                     "text": f"Cervical lesion {meaning.lower()}"},
            "bodySite": {"coding": [{"system": SNOMED, "code": "71252005",
                                     "display": "Cervix uteri structure"}]},
            "valueQuantity": {"value": round(float(value), 4), "unit": unit, "system": UCUM,
                              "code": unit},
            "device": device}


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
