"""The one typed value an assessment request becomes at the API edge, and the one function that
builds it for both APIs.

The HTTP API (a multipart form) and the gRPC API (``AssessRequest`` or a stream of chunks) each
decode only their own syntax — a stage word or enum number, a JSON object or a
``ClinicalRecord`` message, uploaded files — and hand the pieces to :func:`parse_assessment`.
It checks everything that can be checked without reading the DICOM: the stage, the clinical
record (validated once, here), the shape of the upload (files or one zip, not both, not
nothing), the result objects asked for and the FHIR subject reference. It returns an
:class:`AssessmentRequest` that everything after the edge trusts, or a :class:`Rejection`
listing every problem; a rejection keeps the upload when its shape was right, so that the
pipeline can still read the DICOM and report its problems in the same answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cervix.v1 import clinical_pb2, common_pb2, gateway_pb2, studies_pb2
from cervixai.clinical.proto import record_from_proto, record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import ClinicalRecord, validate_record
from cervixai.dicom import DicomSource
from cervixai.errors import FieldViolation, InvalidInput
from cervixai.results import KINDS

STAGE_WORDS = {s.value: s for s in Stage}
PROTO_OF_STAGE: dict[Stage, common_pb2.Stage] = {
    Stage.PREOPERATIVE: common_pb2.STAGE_PREOPERATIVE,
    Stage.POSTOPERATIVE: common_pb2.STAGE_POSTOPERATIVE}
STAGE_OF_PROTO: dict[int, Stage] = {int(n): s for s, n in PROTO_OF_STAGE.items()}
# the result objects (cervixai.results.KINDS) by their HTTP word and their proto enum
PROTO_OF_KIND: dict[str, gateway_pb2.ResultKind] = {
    "dicom-seg": gateway_pb2.RESULT_KIND_DICOM_SEG,
    "dicom-sr": gateway_pb2.RESULT_KIND_DICOM_SR,
    "fhir": gateway_pb2.RESULT_KIND_FHIR}
KIND_OF_PROTO: dict[int, str] = {int(n): k for k, n in PROTO_OF_KIND.items()}
assert tuple(PROTO_OF_KIND) == KINDS, "one proto enum value per result kind, in KINDS' order"
PROTO_OF_KIND_NAMES = tuple(gateway_pb2.ResultKind.Name(n) for n in PROTO_OF_KIND.values())
MAX_SUBJECT_CHARS = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# DICOM ingestion names its violations after the gRPC request (``dicom_files[i]``, the whole
# upload ``dicom_files``, a zip ``archive``); :meth:`DicomUpload.caller_field` renames them.
_INGEST_FILE = re.compile(r"dicom_files\[(\d+)\]")


def new_request_id() -> str:
    """An opaque id for one request: in the reply, the error body and the audit line."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class UploadFields:
    """How the caller's API names the DICOM it sent, for field violations."""

    files: str    # the files, indexed: ``files[3]`` (HTTP) / ``dicom_files[3]`` (gRPC)
    archive: str  # the one zip archive: ``files`` (HTTP form field) / ``dicom_zip`` (gRPC)


HTTP_FIELDS = UploadFields(files="files", archive="files")
GRPC_FIELDS = UploadFields(files="dicom_files", archive="dicom_zip")


@dataclass(frozen=True)
class DicomUpload:
    """The DICOM of one study as sent: files, or one zip archive — never both, never nothing
    (:func:`parse_assessment` checks)."""

    files: tuple[DicomSource, ...]
    archive: bytes | None
    fields: UploadFields

    @property
    def size_bytes(self) -> int:
        return sum(len(f.data) for f in self.files) + len(self.archive or b"")

    def caller_field(self, violation: FieldViolation) -> FieldViolation:
        """An ingestion violation renamed after the field the caller sent: the i-th file keeps
        its index; a problem inside the archive names the archive (the description names the
        entry); ``series`` (the series as a whole) is left as it is."""
        if self.archive is not None:
            renamed = (self.fields.archive
                       if violation.field in ("archive", "dicom_files")
                       or _INGEST_FILE.fullmatch(violation.field) else violation.field)
        elif violation.field == "dicom_files":
            renamed = self.fields.files
        elif match := _INGEST_FILE.fullmatch(violation.field):
            renamed = f"{self.fields.files}[{match.group(1)}]"
        else:
            renamed = violation.field
        return FieldViolation(renamed, violation.description)


@dataclass(frozen=True)
class AssessmentRequest:
    """One valid assessment request: what the pipeline runs on, trusted as it is."""

    stage: Stage
    record: ClinicalRecord                   # validated for ``stage``
    clinical: clinical_pb2.ClinicalRecord    # the message built once from ``record``
    upload: DicomUpload
    results: tuple[str, ...] = ()            # result kinds asked for, in the order of KINDS
    # the caller's FHIR subject reference ("Patient/123"): opaque, identifying — it goes into
    # the FHIR Bundle and nowhere else
    subject: str = field(default="", repr=False)

    @property
    def stage_proto(self) -> common_pb2.Stage:
        return PROTO_OF_STAGE[self.stage]

    def __repr__(self) -> str:  # never the clinical values, never the subject
        return (f"AssessmentRequest(stage={self.stage.value}, {self.record!r}, "
                f"{len(self.upload.files)} files, archive={self.upload.archive is not None}, "
                f"results={list(self.results)}, subject={'given' if self.subject else 'none'})")


@dataclass(frozen=True)
class Rejection:
    """A request that cannot be assessed: every problem found at the edge, and the upload when
    its shape was right (its DICOM problems are added to these before answering)."""

    violations: tuple[FieldViolation, ...]
    stage: Stage | None
    upload: DicomUpload | None
    upload_bytes: int


Parsed = AssessmentRequest | Rejection


def stage_from_word(word: str | None) -> Stage | FieldViolation:
    """The HTTP form's stage (``preoperative`` / ``postoperative``, any case)."""
    text = (word or "").strip().lower()
    stage = STAGE_WORDS.get(text)
    if stage is None:
        return FieldViolation("stage", f"must be preoperative or postoperative, got "
                                       f"{text or 'nothing'!r}")
    return stage


def stage_from_proto(number: int) -> Stage | FieldViolation:
    """The gRPC request's ``cervix.v1.Stage``."""
    stage = STAGE_OF_PROTO.get(int(number))
    if stage is None:
        return FieldViolation("stage", f"must be STAGE_PREOPERATIVE or STAGE_POSTOPERATIVE, "
                                       f"got {number}")
    return stage


def results_from_words(values: Iterable[str]) -> tuple[str, ...] | FieldViolation:
    """The HTTP form's ``results``: kind words, comma-separated, repeated, or both
    (``dicom-seg,dicom-sr,fhir``); any case; a kind given twice counts once."""
    words = [w.strip().lower() for value in values for w in value.split(",")]
    words = [w for w in words if w]
    unknown = [w for w in words if w not in KINDS]
    if unknown:
        return FieldViolation("results", f"unknown result kind(s) {', '.join(map(repr, unknown))}"
                                         f"; expected some of {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in words)


def results_from_proto(numbers: Iterable[int]) -> tuple[str, ...] | FieldViolation:
    """The gRPC request's ``repeated ResultKind results``."""
    given = [int(n) for n in numbers]
    unknown = [n for n in given if n not in KIND_OF_PROTO]
    if unknown:
        names = ", ".join(gateway_pb2.ResultKind.Name(n)
                          if n in gateway_pb2.ResultKind.values() else str(n)
                          for n in unknown)
        return FieldViolation("results", f"unknown or unspecified result kind(s) {names}; "
                                         f"expected some of {', '.join(PROTO_OF_KIND_NAMES)}")
    kinds = {KIND_OF_PROTO[n] for n in given}
    return tuple(k for k in KINDS if k in kinds)


def subject_from(text: str | None, field_name: str) -> str | FieldViolation:
    """The caller's FHIR subject reference, checked for its size and for control characters
    only (it is opaque); a violation never quotes it."""
    subject = (text or "").strip()
    if len(subject) > MAX_SUBJECT_CHARS:
        return FieldViolation(field_name, f"must be at most {MAX_SUBJECT_CHARS} characters, got "
                                          f"{len(subject)}")
    if _CONTROL.search(subject):
        return FieldViolation(field_name, "must not contain control characters")
    return subject


def _stage_and_record(
    stage: Stage | FieldViolation,
    clinical: Mapping[str, object] | clinical_pb2.ClinicalRecord | FieldViolation,
    violations: list[FieldViolation],
) -> ClinicalRecord | None:
    """The record validated for ``stage`` (for the preoperative variables when the stage is
    itself a violation, so that the record's own problems are still reported), or None; every
    problem found is appended to ``violations``. The one check of stage and record of both
    APIs, for assessments and for a study's clinical record alike."""
    if isinstance(stage, FieldViolation):
        violations.append(stage)
    checked_stage = stage if isinstance(stage, Stage) else Stage.PREOPERATIVE
    if isinstance(clinical, FieldViolation):
        violations.append(clinical)
        return None
    try:
        return (record_from_proto(clinical, checked_stage)
                if isinstance(clinical, clinical_pb2.ClinicalRecord)
                else validate_record(clinical, checked_stage))
    except InvalidInput as e:
        violations.extend(e.violations)
        return None


def parse_assessment(
    stage: Stage | FieldViolation,
    clinical: Mapping[str, object] | clinical_pb2.ClinicalRecord | FieldViolation,
    files: Sequence[DicomSource],
    archives: Sequence[bytes],
    fields: UploadFields,
    results: tuple[str, ...] | FieldViolation = (),
    subject: str | FieldViolation = "",
) -> Parsed:
    """The typed request, or every problem of stage, clinical record, upload shape, result
    kinds and subject at once.

    ``clinical`` is the record as the API decoded it (a JSON object, a ``ClinicalRecord``
    message) or the violation that decoding raised; ``results`` and ``subject`` are what
    :func:`results_from_words` / :func:`results_from_proto` and :func:`subject_from` made of
    the caller's fields. A record sent with a bad stage is checked against the preoperative
    variables, so that its own problems are still reported.
    """
    violations: list[FieldViolation] = []
    record = _stage_and_record(stage, clinical, violations)
    upload_bytes = sum(len(f.data) for f in files) + sum(len(a) for a in archives)
    upload: DicomUpload | None = None
    if not files and not archives:
        violations.append(FieldViolation(fields.files, "no DICOM files were sent; send the "
                                                       "DICOM files of one MR series"))
    elif files and archives:
        violations.append(FieldViolation(fields.archive, "send DICOM files or one zip, not "
                                                         "both"))
    elif len(archives) > 1:
        violations.append(FieldViolation(fields.archive, f"{len(archives)} zip archives were "
                                                         f"sent; send one"))
    else:
        upload = DicomUpload(tuple(files), archives[0] if archives else None, fields)
    violations += [v for v in (results, subject) if isinstance(v, FieldViolation)]
    if (violations or record is None or not isinstance(stage, Stage) or upload is None
            or isinstance(results, FieldViolation) or isinstance(subject, FieldViolation)):
        return Rejection(tuple(violations), stage if isinstance(stage, Stage) else None, upload,
                         upload_bytes)
    return AssessmentRequest(stage, record, record_to_proto(record), upload, results, subject)


# ----------------------------------------------------------------------------- studies (PACS)

# DICOM PS3.5 §6.2 and §9.1: a UID (VR UI) is at most 64 characters of digits and dots, its
# components have no leading zero (a component may be "0"); an AccessionNumber (VR SH) is at most
# 16 characters, no backslash and no control characters (leading and trailing spaces are not
# significant, and are not sent on)
MAX_UID_CHARS = 64
MAX_ACCESSION_CHARS = 16
UID_PATTERN = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"
_UID = re.compile(UID_PATTERN)
_UID_COMPONENT = re.compile(r"0|[1-9][0-9]*")
_SH_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
STUDY = "study"          # the audit's and the listener's names of the two kinds of key
ACCESSION = "accession"


@dataclass(frozen=True)
class StudyKey:
    """A study as the HIS names it: its StudyInstanceUID or its AccessionNumber, checked against
    its DICOM value representation. Identifying: never logged, never in a metric (``repr``
    says the kind only)."""

    kind: str                        # STUDY or ACCESSION
    value: str = field(repr=False)

    def to_proto(self) -> studies_pb2.StudyRef:
        if self.kind == STUDY:
            return studies_pb2.StudyRef(study_instance_uid=self.value)
        return studies_pb2.StudyRef(accession_number=self.value)


def study_key_from_uid(text: str, field_name: str) -> StudyKey | FieldViolation:
    """A StudyInstanceUID (VR UI); a violation says what is wrong without quoting it."""
    problem = None
    if not 1 <= len(text) <= MAX_UID_CHARS:
        problem = f"it is {len(text)} characters; a UID has 1 to {MAX_UID_CHARS}"
    elif not _UID.fullmatch(text):
        components = text.split(".")
        bad = next(i for i, c in enumerate(components, 1) if not _UID_COMPONENT.fullmatch(c))
        component = components[bad - 1]
        problem = (f"component {bad} is empty" if not component
                   else f"component {bad} has a leading zero"
                   if component.isascii() and component.isdigit()
                   else f"component {bad} holds something other than digits")
    if problem:
        return FieldViolation(field_name, f"must be a DICOM UID (digits and dots, components "
                                          f"without leading zeros): {problem}")
    return StudyKey(STUDY, text)


def study_key_from_accession(text: str, field_name: str) -> StudyKey | FieldViolation:
    """An AccessionNumber (VR SH); leading and trailing spaces are dropped, as DICOM ignores
    them. A violation never quotes it."""
    value = text.strip(" ")
    problem = None
    if not 1 <= len(value) <= MAX_ACCESSION_CHARS:
        problem = f"it is {len(value)} characters; an accession number has 1 to " \
                  f"{MAX_ACCESSION_CHARS}"
    elif _SH_REFUSED.search(value):
        problem = "it holds a backslash or a control character"
    if problem:
        return FieldViolation(field_name, f"must be a DICOM AccessionNumber (VR SH): {problem}")
    return StudyKey(ACCESSION, value)


def study_key_from_proto(ref: studies_pb2.StudyRef, prefix: str) -> StudyKey | FieldViolation:
    """The key of a ``cervix.v1.StudyRef``; fields named ``<prefix>study_instance_uid``."""
    kind = ref.WhichOneof("key")
    if kind == "study_instance_uid":
        return study_key_from_uid(ref.study_instance_uid, f"{prefix}study_instance_uid")
    if kind == "accession_number":
        return study_key_from_accession(ref.accession_number, f"{prefix}accession_number")
    return FieldViolation(prefix.rstrip(".") or "study_instance_uid",
                          "name the study by study_instance_uid or accession_number")


@dataclass(frozen=True)
class ClinicalSubmission:
    """A study's clinical record from the HIS, valid, for the DICOM listener: the key, the
    stage and the record validated for it (as an assessment's is)."""

    key: StudyKey
    stage: Stage
    record: ClinicalRecord = field(repr=False)

    def to_proto(self) -> studies_pb2.PutClinicalRequest:
        return studies_pb2.PutClinicalRequest(study=self.key.to_proto(),
                                              stage=PROTO_OF_STAGE[self.stage],
                                              clinical=record_to_proto(self.record))


@dataclass(frozen=True)
class ClinicalRejection:
    """A clinical record that cannot be sent on: every problem found, and what the audit line
    may say of the request (the kind of key the caller used, the stage when it was valid)."""

    violations: tuple[FieldViolation, ...]
    key_kind: str                    # STUDY, ACCESSION, or INVALID_KEY (neither was named)
    stage: Stage | None


ClinicalParsed = ClinicalSubmission | ClinicalRejection
INVALID_KEY = "invalid"
KEY_KIND_OF_FIELD = {"study_instance_uid": STUDY, "accession_number": ACCESSION}


def parse_clinical_submission(
    key: StudyKey | FieldViolation,
    stage: Stage | FieldViolation,
    clinical: Mapping[str, object] | clinical_pb2.ClinicalRecord | FieldViolation,
    key_kind: str,
) -> ClinicalParsed:
    """The submission, or every problem of key, stage and record at once; stage and record are
    checked by the same code as an assessment's. ``key_kind`` is the kind of key the caller
    used (the HTTP route, the gRPC ``StudyRef`` field), valid or not."""
    violations: list[FieldViolation] = []
    if isinstance(key, FieldViolation):
        violations.append(key)
    record = _stage_and_record(stage, clinical, violations)
    if violations or record is None or isinstance(key, FieldViolation) \
            or isinstance(stage, FieldViolation):
        return ClinicalRejection(tuple(violations), key_kind,
                                 stage if isinstance(stage, Stage) else None)
    return ClinicalSubmission(key, stage, record)
