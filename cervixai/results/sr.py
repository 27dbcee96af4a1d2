"""Measurements and risks as a DICOM Comprehensive 3D SR (TID 1500 measurement report, highdicom).

One volumetric measurement group for the lesion — volume (mL) and largest in-plane diameter
(mm), referencing segment 1 of the SEG and its source series, finding site cervix — and one
measurement group per stated risk: the probability (UCUM ``1``) coded in cervixai's scheme
(:mod:`cervixai.results.outcomes`), the model as algorithm identification, and for a classifier
task its operating threshold as a second measurement. Same study as the source, a new series.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from cervix.v1 import common_pb2, gateway_pb2
from cervixai import __version__
from cervixai.dicom.source import SourceSlices
from cervixai.results.outcomes import SCHEME, SCHEME_NAME, Risk, risks
from cervixai.results.seg import MANUFACTURER, SR_SERIES_NUMBER

if TYPE_CHECKING:  # highdicom is imported only when a result object is built
    import highdicom as hd

MRI = ("113091000", "SCT", "Magnetic resonance imaging")


def build_sr(source: SourceSlices, seg: Dataset, response: gateway_pb2.AssessResponse) -> Dataset:
    """The SR of ``response``'s lesion measurements and risks, referencing ``seg``."""
    import highdicom as hd

    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="cervixai", manufacturer_name=MANUFACTURER,
            model_name="cervixai", serial_number=__version__))
    groups: list[hd.sr.MeasurementsAndQualitativeEvaluations
                 | hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations] = [
        _lesion_group(source, seg, response.segmentation)]
    groups += [_risk_group(risk) for risk in risks(response)]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=hd.sr.CodedConcept(*MRI),
        imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg, *source.instances], content=report,
        series_instance_uid=generate_uid(), series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
        is_complete=True, is_final=False, is_verified=False)
    sr.SeriesDescription = "cervixai measurements and risks"
    scheme = Dataset()
    scheme.CodingSchemeDesignator = SCHEME
    scheme.CodingSchemeName = SCHEME_NAME
    scheme.CodingSchemeResponsibleOrganization = "cervixai"
    sr.CodingSchemeIdentificationSequence = [scheme]
    return sr


def _algorithm(model: common_pb2.ModelIdentity) -> hd.sr.AlgorithmIdentification:
    import highdicom as hd

    return hd.sr.AlgorithmIdentification(name=f"cervixai {model.name}",
                                         version=model.version or "unknown")


def _lesion_group(source: SourceSlices, seg: Dataset,
                  segmentation: gateway_pb2.Segmentation
                  ) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    import highdicom as hd

    m = segmentation.measurements
    algorithm = _algorithm(segmentation.model)
    measurements = [
        hd.sr.Measurement(name=codes.SCT.Volume, value=float(m.volume_ml),
                          unit=hd.sr.CodedConcept("mL", "UCUM", "milliliter"),
                          algorithm_id=algorithm),
        hd.sr.Measurement(name=codes.SCT.Diameter, value=float(m.max_diameter_mm),
                          unit=codes.UCUM.Millimeter, algorithm_id=algorithm),
    ]
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(),
                                                     identifier="cervical lesion"),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
            segment_number=1, source_series=hd.sr.SourceSeriesForSegmentation(
                source.instances[0].SeriesInstanceUID)),
        finding_type=codes.SCT.Neoplasm,
        finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.Cervix)],
        measurements=measurements)


def _risk_group(risk: Risk) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    import highdicom as hd

    algorithm = _algorithm(risk.model)
    unity = hd.sr.CodedConcept("1", "UCUM", "no units")
    measurements = [hd.sr.Measurement(
        name=hd.sr.CodedConcept(risk.code, SCHEME, risk.meaning), value=risk.probability,
        unit=unity, algorithm_id=algorithm)]
    if risk.threshold is not None:
        measurements.append(hd.sr.Measurement(
            name=hd.sr.CodedConcept(f"{risk.code}-threshold", SCHEME,
                                    f"Operating threshold of {risk.meaning[0].lower()}"
                                    f"{risk.meaning[1:]}"),
            value=risk.threshold, unit=unity, algorithm_id=algorithm))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=risk.code),
        finding_type=codes.DCM.Probability if hasattr(codes.DCM, "Probability")
        else hd.sr.CodedConcept("122157", "DCM", "Probability"),
        measurements=measurements)
