"""The one typed value an assessment request becomes at the API edge, and the one function that
builds it for both APIs.

The HTTP API (a multipart form) and the gRPC API (``AssessRequest`` or a stream of chunks) each
decode only their own syntax — a stage word or enum number, a JSON object or a
``ClinicalRecord`` message, uploaded files — and hand the pieces to :func:`parse_assessment`.
It checks everything that can be checked without reading the DICOM: the stage, the clinical
record (validated once, here), the shape of the upload (files or one zip, not both, not
nothing). It returns an :class:`AssessmentRequest` that everything after the edge trusts, or a
:class:`Rejection` listing every problem; a rejection keeps the upload when its shape was right,
so that the pipeline can still read the DICOM and report its problems in the same answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cervix.v1 import clinical_pb2, common_pb2
from cervixai.clinical.proto import record_from_proto, record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import ClinicalRecord, validate_record
from cervixai.dicom import DicomSource
from cervixai.errors import FieldViolation, InvalidInput

STAGE_WORDS = {s.value: s for s in Stage}
PROTO_OF_STAGE: dict[Stage, common_pb2.Stage] = {
    Stage.PREOPERATIVE: common_pb2.STAGE_PREOPERATIVE,
    Stage.POSTOPERATIVE: common_pb2.STAGE_POSTOPERATIVE}
STAGE_OF_PROTO: dict[int, Stage] = {int(n): s for s, n in PROTO_OF_STAGE.items()}

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

    @property
    def stage_proto(self) -> common_pb2.Stage:
        return PROTO_OF_STAGE[self.stage]

    def __repr__(self) -> str:  # never the clinical values
        return (f"AssessmentRequest(stage={self.stage.value}, {self.record!r}, "
                f"{len(self.upload.files)} files, archive={self.upload.archive is not None})")


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


def parse_assessment(
    stage: Stage | FieldViolation,
    clinical: Mapping[str, object] | clinical_pb2.ClinicalRecord | FieldViolation,
    files: Sequence[DicomSource],
    archives: Sequence[bytes],
    fields: UploadFields,
) -> Parsed:
    """The typed request, or every problem of stage, clinical record and upload shape at once.

    ``clinical`` is the record as the API decoded it (a JSON object, a ``ClinicalRecord``
    message) or the violation that decoding raised. A record sent with a bad stage is checked
    against the preoperative variables, so that its own problems are still reported.
    """
    violations: list[FieldViolation] = []
    if isinstance(stage, FieldViolation):
        violations.append(stage)
    checked_stage = stage if isinstance(stage, Stage) else Stage.PREOPERATIVE
    record: ClinicalRecord | None = None
    if isinstance(clinical, FieldViolation):
        violations.append(clinical)
    else:
        try:
            record = (record_from_proto(clinical, checked_stage)
                      if isinstance(clinical, clinical_pb2.ClinicalRecord)
                      else validate_record(clinical, checked_stage))
        except InvalidInput as e:
            violations.extend(e.violations)
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
    if violations or record is None or not isinstance(stage, Stage) or upload is None:
        return Rejection(tuple(violations), stage if isinstance(stage, Stage) else None, upload,
                         upload_bytes)
    return AssessmentRequest(stage, record, record_to_proto(record), upload)
