"""cervix.v1.Studies on the listener: the clinical record of a study in, its status out, and the
instances the gateway's STOW-RS endpoint receives (taken as a C-STORE is: listener/intake.py).

The gateway authenticates the caller and validates the record (stage and every variable, as
for an assessment) before it forwards here; the listener checks the key and the stage, keeps the
record (durably: what it acknowledged is never lost) and wakes the worker. The assessment checks
the record again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from cervix.v1 import common_pb2, studies_pb2, studies_pb2_grpc
from cervixai.errors import InvalidInput
from listener.intake import Intake
from listener.spool import Keys
from listener.store import ExportState, Record, State, Store, Study

_STATE = {s: f"STUDY_STATE_{s.name}" for s in State}
_EXPORT_STATE = {s: f"EXPORT_STATE_{s.name}" for s in ExportState}


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    pass


def _key_of(ref: studies_pb2.StudyRef, keys: Keys) -> tuple[str, str]:
    which = ref.WhichOneof("key")
    value = getattr(ref, which).strip() if which else ""
    if not value:
        raise InvalidInput.single("study", "give study_instance_uid or accession_number")
    kind = "study" if which == "study_instance_uid" else "accession"
    return kind, keys.key(kind, value)


class StudiesServicer(studies_pb2_grpc.StudiesServicer):
    def __init__(self, store: Store, keys: Keys, intake: Intake,
                 wake: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._keys = keys
        self._intake = intake
        self._wake = wake

    def _study(self, kind: str, key: str) -> Study | None:
        return (self._store.study(key) if kind == "study"
                else self._store.study_by_accession(key))

    def PutClinical(self, request: studies_pb2.PutClinicalRequest,
                    context: grpc.ServicerContext) -> studies_pb2.StudyStatus:
        kind, key = _key_of(request.study, self._keys)
        if request.stage not in (common_pb2.STAGE_PREOPERATIVE, common_pb2.STAGE_POSTOPERATIVE):
            raise InvalidInput.single("stage", "must be preoperative or postoperative")
        if not request.HasField("clinical"):
            raise InvalidInput.single("clinical", "the clinical record is missing")
        study = self._study(kind, key)
        if study is not None and study.state in (State.ASSESSING, State.EXPORTING):
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"the study's assessment has started ({study.state.value}); a record "
                          f"sent now cannot change it")
        now = time.time()
        self._store.put_record(Record(kind, key, int(request.stage),
                                      request.clinical.SerializeToString(), now))
        self._wake()
        if study is None or study.state in (State.DONE, State.FAILED, State.EXPIRED):
            return studies_pb2.StudyStatus(state=studies_pb2.STUDY_STATE_AWAITING_IMAGES,
                                           clinical_received=True, stage=request.stage,
                                           received_at=now, updated_at=now)
        return self._status(self._store.study(study.key) or study, clinical=True)

    def GetStudy(self, request: studies_pb2.StudyRef,
                 context: grpc.ServicerContext) -> studies_pb2.StudyStatus:
        kind, key = _key_of(request, self._keys)
        study = self._study(kind, key)
        if study is not None:
            return self._status(study)
        record = self._store.record(kind, key)
        if record is not None:
            return studies_pb2.StudyStatus(state=studies_pb2.STUDY_STATE_AWAITING_IMAGES,
                                           clinical_received=True,
                                           stage=common_pb2.Stage.Name(record.stage),
                                           received_at=record.received_at,
                                           updated_at=record.received_at)
        context.abort(grpc.StatusCode.NOT_FOUND, "the listener knows no such study (never "
                      "received, or its status has been purged)")
        raise AssertionError("unreachable")

    def StoreInstance(self, request: studies_pb2.StoreInstanceRequest,
                      context: grpc.ServicerContext) -> studies_pb2.StoreInstanceResult:
        if not request.dicom:
            raise InvalidInput.single("dicom", "the instance is empty")
        outcome = self._intake.take(request.dicom,
                                    study_uid=request.study_instance_uid.strip() or None)
        return studies_pb2.StoreInstanceResult(
            stored=outcome.stored, failure_reason=outcome.status, error=outcome.comment,
            sop_class_uid=outcome.sop_class_uid, sop_instance_uid=outcome.sop_instance_uid)

    def _status(self, study: Study, clinical: bool = False) -> studies_pb2.StudyStatus:
        record = self._store.record_of(study)
        status = studies_pb2.StudyStatus(
            state=_STATE[study.state], instances=study.instances, series=study.series,
            bytes=study.bytes, clinical_received=clinical or study.clinical_received
            or record is not None, stage=common_pb2.Stage.Name(
                record.stage if record is not None else study.stage),
            request_id=study.request_id, error=study.error, received_at=study.received_at,
            updated_at=study.updated_at)
        for export in self._store.exports(study.key):
            status.exports.add(kind=export.kind, destination=export.destination,
                               state=_EXPORT_STATE[export.state], attempts=export.attempts,
                               last_status=export.last_status)
        return status
