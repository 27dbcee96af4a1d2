"""Result objects validated by third-party tools: highdicom reads the SEG back on the source grid,
dciodvfy (dicom3tools) finds no error in the SEG and the SR, dsrdump (dcmtk) renders the SR,
fhir.resources validates the Bundle, and no identifier leaks outside the objects."""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from cervix.v1 import common_pb2, gateway_pb2, survival_pb2
from cervixai.cohort.synth.image import render
from cervixai.dicom import DicomSource, load_series
from cervixai.dicom.writer import PatientIdentity, series_datasets
from cervixai.results import build_results
from cervixai.results.grid import to_source_grid

IDENTITY = PatientIdentity(name="Doe^Jane", patient_id="MRN99887766", birth_date="19710203",
                           accession_number="ACC5551234", institution_name="Test Hospital")
SUBJECT = "Patient/opaque-7731"


def _series(matrix: int, *, enhanced: bool = False):  # type: ignore[no-untyped-def]
    rendered = render(np.random.default_rng(matrix), tumor_size_cm=3.5, heterogeneity=0.0,
                      irregularity=0.0, matrix=matrix, pixel_mm=0.7, slice_mm=5.0, slices=10)
    sources = []
    for k, ds in enumerate(series_datasets(rendered.volume, spacing_mm=(5.0, 0.7, 0.7),
                                           origin_mm=rendered.grid.origin_mm,
                                           patient=IDENTITY)):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        sources.append(DicomSource(f"s{k:02d}.dcm", buffer.getvalue()))
    return load_series(list(reversed(sources)))   # any upload order


def _response(volume_ml: float = 12.5, diameter: float = 31.2) -> gateway_pb2.AssessResponse:
    r = gateway_pb2.AssessResponse(stage=common_pb2.STAGE_POSTOPERATIVE)
    r.segmentation.measurements.lesion_found = True
    r.segmentation.measurements.volume_ml = volume_ml
    r.segmentation.measurements.max_diameter_mm = diameter
    r.segmentation.model.CopyFrom(common_pb2.ModelIdentity(
        name="segmenter", version="6e9515b5d739", sha256="6e9515b5d739" + "0" * 52,
        algorithm="3d_se_unet"))
    for task, p, threshold in ((common_pb2.TASK_PARAMETRIAL_INVASION, 0.12, 0.3),
                               (common_pb2.TASK_DEATH, 0.41, 0.2)):
        r.predictions.add(task=task, probability=p, threshold=threshold, label=p >= threshold,
                          model=common_pb2.ModelIdentity(name=f"classifier.{task}",
                                                         version="abc"))
    estimate = r.survival.add(outcome=survival_pb2.SURVIVAL_OUTCOME_OS,
                              survival_probability_12_months=0.97,
                              survival_probability_36_months=0.88,
                              survival_probability_60_months=0.81)
    estimate.model.name, estimate.model.version = "survival.os", "def"
    return r


def _mask(shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[3:7, 90:150, 100:170] = True
    mask[5, 200:220, 10:30] = True     # touches what a crop margin would be
    return mask


@pytest.mark.parametrize("matrix", [256, 320, 384])
def test_the_seg_lies_on_the_source_grid_and_joins_the_source_study(matrix: int) -> None:
    import highdicom as hd

    series = _series(matrix)
    mask = _mask(series.volume.shape)
    seg_object, sr_object = build_results(series, mask, _response(), ["dicom-seg", "dicom-sr"])
    seg = hd.seg.segread(io.BytesIO(seg_object.content))
    sources = series.source.datasets
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert seg.SeriesInstanceUID != sources[0].SeriesInstanceUID
    assert seg.PatientID == IDENTITY.patient_id and str(seg.PatientName) == IDENTITY.name
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    segment = seg.SegmentSequence[0]
    assert (segment.SegmentedPropertyCategoryCodeSequence[0].CodeValue,
            segment.SegmentedPropertyTypeCodeSequence[0].CodeValue,
            segment.AnatomicRegionSequence[0].CodeValue) == ("49755003", "108369006", "71252005")
    assert segment.SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion == \
        "6e9515b5d739"
    on_source = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in sources], segment_numbers=[1],
        ignore_spatial_locations=True, assert_missing_frames_are_empty=True)[..., 0]
    expected = to_source_grid(mask, series.source.fit)
    assert on_source.shape == (len(sources), matrix, matrix)
    np.testing.assert_array_equal(on_source.astype(bool), expected)
    if matrix == 320:   # the crop undone: the model grid sits 32 pixels in
        assert not expected[:, :32].any() and (expected[:, 32:288, 32:288] == mask).all()
    sr = pydicom.dcmread(io.BytesIO(sr_object.content))
    assert sr.StudyInstanceUID == sources[0].StudyInstanceUID
    assert sr.SeriesInstanceUID not in (seg.SeriesInstanceUID, sources[0].SeriesInstanceUID)


def test_the_sr_states_the_apis_numbers() -> None:
    import highdicom as hd

    series = _series(256)
    response = _response(volume_ml=17.25, diameter=40.5)
    seg_object, sr_object = build_results(series, _mask(series.volume.shape), response,
                                          ["dicom-sr"])   # the SR brings the SEG it cites
    assert seg_object.kind == "dicom-seg"
    sr = hd.sr.srread(io.BytesIO(sr_object.content))
    numbers = {item.ConceptNameCodeSequence[0].CodeMeaning: float(
        item.MeasuredValueSequence[0].NumericValue)
        for item in _walk(sr.ContentSequence) if item.ValueType == "NUM"}
    assert numbers["Volume"] == pytest.approx(17.25)
    assert numbers["Diameter"] == pytest.approx(40.5)
    assert numbers["Probability of parametrial invasion"] == pytest.approx(0.12)
    assert numbers["Operating threshold of probability of death"] == pytest.approx(0.2)
    assert numbers["Probability of death from any cause (OS event) within 36 months"] == \
        pytest.approx(0.12)


def _walk(items):  # type: ignore[no-untyped-def]
    for item in items:
        yield item
        yield from _walk(getattr(item, "ContentSequence", []))


needs_dicom3tools = pytest.mark.skipif(shutil.which("dciodvfy") is None,
                                       reason="dciodvfy (Debian dicom3tools) is not installed")
needs_dcmtk = pytest.mark.skipif(shutil.which("dsrdump") is None,
                                 reason="dsrdump (Debian dcmtk) is not installed")


@needs_dicom3tools
@pytest.mark.parametrize("matrix", [256, 320])
@pytest.mark.parametrize("empty", [False, True])
def test_dciodvfy_finds_no_error(tmp_path: Path, matrix: int, empty: bool) -> None:
    series = _series(matrix)
    mask = np.zeros(series.volume.shape, bool) if empty else _mask(series.volume.shape)
    for result in build_results(series, mask, _response(), ["dicom-seg", "dicom-sr"]):
        path = tmp_path / result.filename
        path.write_bytes(result.content)
        report = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                                timeout=60)
        errors = [line for line in (report.stdout + report.stderr).splitlines()
                  if line.startswith("Error")]
        assert errors == [], f"{result.kind}: {errors}"


@needs_dcmtk
def test_dsrdump_renders_the_sr(tmp_path: Path) -> None:
    series = _series(256)
    _, sr_object = build_results(series, _mask(series.volume.shape), _response(), ["dicom-sr"])
    path = tmp_path / "report.dcm"
    path.write_bytes(sr_object.content)
    out = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Imaging Measurement Report" in out.stdout
    assert '"Probability of parametrial invasion")="0.12"' in out.stdout


@pytest.mark.parametrize("subject", [SUBJECT, ""])
def test_the_fhir_bundle_validates_and_its_references_resolve(subject: str) -> None:
    from fhir.resources.R4B.bundle import Bundle

    series = _series(256)
    (fhir_object,) = build_results(series, _mask(series.volume.shape), _response(), ["fhir"],
                                   subject=subject)
    document = json.loads(fhir_object.content)
    bundle = Bundle.model_validate(document)
    assert bundle.type == "collection"
    urls = {e.fullUrl for e in bundle.entry}
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds.count("Observation") == 2 and "RiskAssessment" in kinds \
        and "DiagnosticReport" in kinds and "Device" in kinds
    references = _references(document)
    assert references and all(r in urls for r in references if r.startswith("urn:uuid:"))
    assessment = next(e.resource for e in bundle.entry
                      if e.resource.get_resource_type() == "RiskAssessment")
    if subject:
        assert assessment.subject.reference == SUBJECT
    else:
        assert assessment.subject.reference is None and "receiving system" in \
            assessment.subject.display
    predicted = {p.outcome.coding[0].code: (float(p.probabilityDecimal),
                                            p.whenRange.high.value if p.whenRange else None)
                 for p in assessment.prediction}
    assert predicted["parametrial-invasion"] == (pytest.approx(0.12), None)
    assert predicted["death-any-cause-60m"] == (pytest.approx(0.19), 60)
    volume = next(e.resource for e in bundle.entry
                  if e.resource.get_resource_type() == "Observation"
                  and e.resource.code.coding[0].code == "118565006")
    assert (volume.valueQuantity.value, volume.valueQuantity.code,
            volume.valueQuantity.system) == (12.5, "mL", "http://unitsofmeasure.org")


def _references(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def test_identifiers_stay_inside_the_objects(caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    series = _series(320)
    objects = build_results(series, _mask(series.volume.shape), _response(), list(
        ("dicom-seg", "dicom-sr", "fhir")), subject=SUBJECT)
    source = series.source.datasets[0]
    secrets = [IDENTITY.patient_id, "Doe", IDENTITY.accession_number, SUBJECT,
               source.StudyInstanceUID, source.SOPInstanceUID]
    seen = caplog.text + "".join(capfd.readouterr()) + repr(objects) + repr(series)
    assert [s for s in secrets if s in seen] == []
    # ...and the objects do carry what filing needs
    assert IDENTITY.patient_id.encode() in objects[0].content
    assert SUBJECT.encode() in objects[2].content
