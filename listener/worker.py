"""The life of a study after its instances are on the spool: wait for the quiet period and the
clinical record, have the gateway assess it, keep the SEG and SR on the spool, send them to the
destinations with bounded retries, and clean up.

One thread runs :meth:`Worker.step` every ``poll_seconds``; each step is idempotent and works
only from the database and the spool, so a listener killed at any point resumes where it was
(an assessment in flight is run again; an export in flight is sent again — the destination
gets the same SOP Instance UID twice at worst, which a PACS treats as a replacement).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc

from cervix.v1 import clinical_pb2, common_pb2, gateway_pb2, gateway_pb2_grpc
from cervixai.service.server import channel_options
from cervixai.service.tls import ClientTLS, client_ssl_context, open_channel
from listener.config import ListenerConfig
from listener.export import Attempt, Outcome, send_c_store, send_stow
from listener.metrics import ASSESSMENTS, EXPORTS, SPOOL_BYTES, STUDIES
from listener.spool import Spool, write_durably
from listener.store import GATHERING, Export, ExportState, State, Store, Study

log = logging.getLogger(__name__)

RESULT_KINDS = {gateway_pb2.RESULT_KIND_DICOM_SEG: "dicom-seg",
                gateway_pb2.RESULT_KIND_DICOM_SR: "dicom-sr"}
CHUNK_BYTES = 1024 * 1024
# gRPC codes after which the assessment is tried again (the gateway or a backend is down or
# busy, or the listener's credentials are wrong: an operator can fix those without a resend)
RETRY_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
               grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAUTHENTICATED,
               grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.CANCELLED}


def backoff(config: ListenerConfig, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from the base, capped."""
    return float(min(config.export_backoff_max_seconds,
                     config.export_backoff_seconds * 2 ** max(0, attempts - 1)))


class Worker:
    def __init__(self, config: ListenerConfig, spool: Spool, store: Store,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.spool = spool
        self.store = store
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # TLS to the gateway when a CA is given (the production gateway serves gRPC over TLS);
        # the channel is made again when the CA file changes (a rotated secret)
        self._tls = (ClientTLS(str(config.gateway_tls_ca)) if config.gateway_tls_ca is not None
                     else None)
        self._connect()

    def _connect(self) -> None:
        self._channel = open_channel(self.config.gateway_address,
                                     channel_options(512 * 1024 * 1024), self._tls)
        self._gateway = gateway_pb2_grpc.GatewayStub(self._channel)  # type: ignore[no-untyped-call]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="listener-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._channel.close()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:   # never let the loop die: log it and try again next round
                log.exception("the study worker's step failed")
            self._wake.wait(self.config.poll_seconds)
            self._wake.clear()

    def step(self) -> None:
        now = self.clock()
        self._gather(now)
        for study in self.store.studies(State.ASSESSING):
            if study.next_attempt_at <= now and not self._stop.is_set():
                self._assess(study)
        for export in self.store.exports(due_before=now):
            if not self._stop.is_set():
                self._export(export)
        self._finish_exports()
        self._expire(now)
        self._report()

    # -- gathering -------------------------------------------------------------------------

    def _gather(self, now: float) -> None:
        for study in self.store.studies(*GATHERING):
            complete = (study.last_instance_at is not None
                        and now - study.last_instance_at >= self.config.quiet_seconds)
            record = self.store.record_of(study)
            if complete and record is not None:
                state = State.ASSESSING
            elif complete:
                state = State.AWAITING_CLINICAL
            elif record is not None:
                state = State.AWAITING_IMAGES
            else:
                state = State.RECEIVING
            if state is not study.state or (record is not None) != study.clinical_received:
                self.store.set_state(study.key, state, clinical_received=record is not None,
                                     stage=record.stage if record is not None else None)
                if state is State.ASSESSING:
                    log.info("a study is complete (%d instances, %d series) and its clinical "
                             "record is in: assessing", study.instances, study.series)

    # -- assessment ------------------------------------------------------------------------

    def _chunks(self, study: Study, keys: list[str], header: gateway_pb2.AssessHeader
                ) -> Iterator[gateway_pb2.AssessChunk]:
        yield gateway_pb2.AssessChunk(header=header)
        for key in keys:
            data = self.spool.instance_path(study.key, key).read_bytes()
            for offset in range(0, max(len(data), 1), CHUNK_BYTES):
                yield gateway_pb2.AssessChunk(file_chunk=gateway_pb2.DicomFileChunk(
                    name=f"{key}.dcm", data=data[offset:offset + CHUNK_BYTES]))

    def _metadata(self) -> list[tuple[str, str]]:
        path = self.config.gateway_token_file
        if path is None:
            return []
        return [("authorization", f"Bearer {path.read_text().strip()}")]

    def _assess(self, study: Study) -> None:
        record = self.store.record_of(study)
        if record is None:   # withdrawn meanwhile: wait for it again
            self.store.set_state(study.key, State.AWAITING_CLINICAL, clinical_received=False)
            return
        keys = self.store.instance_keys(study.key)
        if not keys or not all(self.spool.instance_path(study.key, k).is_file() for k in keys):
            ASSESSMENTS.labels("failed").inc()
            self._fail(study, "instances of the study are missing from the spool")
            return
        header = gateway_pb2.AssessHeader(
            stage=common_pb2.Stage.Name(record.stage),
            clinical=clinical_pb2.ClinicalRecord.FromString(record.clinical),
            results=list(RESULT_KINDS))
        if self._tls is not None and self._tls.changed():   # no call is in flight here
            self._channel.close()
            self._connect()
        try:
            response = self._gateway.AssessStream(self._chunks(study, keys, header),
                                                  timeout=self.config.assess_seconds,
                                                  metadata=self._metadata())
        except grpc.RpcError as e:
            code = e.code() if isinstance(e, grpc.Call) else grpc.StatusCode.UNKNOWN
            text = (e.details() if isinstance(e, grpc.Call) else "") or code.name
            if code in RETRY_CODES:
                ASSESSMENTS.labels("retry").inc()
                attempts = study.attempts + 1
                log.warning("the gateway did not assess a study (%s); trying again in %.0f s",
                            code.name, backoff(self.config, attempts))
                self.store.set_state(study.key, State.ASSESSING, attempts=attempts,
                                     next_attempt_at=self.clock() + backoff(self.config,
                                                                            attempts),
                                     error=f"gateway: {code.name}")
                return
            outcome = "refused" if code is grpc.StatusCode.INVALID_ARGUMENT else "failed"
            ASSESSMENTS.labels(outcome).inc()
            log.warning("the gateway %s a study: %s", outcome, code.name)
            self._fail(study, f"assessment {outcome} ({code.name}): {text}"[:2000])
            return
        kinds = []
        for result in response.result_objects:
            kind = RESULT_KINDS.get(result.kind)
            if kind is not None:
                write_durably(self.spool.result_path(study.key, kind), result.content)
                kinds.append(kind)
        destinations = self.config.destinations
        self.store.add_exports(study.key, kinds, destinations)
        ASSESSMENTS.labels("ok").inc()
        # the study's images and record are no longer needed: only the results stay until sent
        self.store.delete_records_of(study)
        self.spool.remove_instances(study.key)
        self.store.forget_instances(study.key)
        late = (f"{study.late_instances} instance(s) arrived after the assessment started and "
                f"are not part of it" if study.late_instances else "")
        self.store.set_state(study.key, State.EXPORTING if destinations and kinds
                             else State.DONE, request_id=response.request_id, error=late,
                             attempts=0)
        log.info("assessed a study (request %s): %s to %d destination(s)", response.request_id,
                 ", ".join(kinds) or "no result objects", len(destinations))

    def _fail(self, study: Study, error: str, state: State = State.FAILED,
              now: float | None = None) -> None:
        """End a study without results: its record, instances and files are deleted; its
        status row says why."""
        self.store.delete_records_of(study)
        self.spool.remove_study(study.key)
        self.store.forget_instances(study.key)
        self.store.set_state(study.key, state, error=error, now=now)

    # -- exports ---------------------------------------------------------------------------

    def _send(self, path: Path, destination: str) -> Attempt:
        config = self.config
        if config.destination is not None and destination == config.destination.name:
            tls = (client_ssl_context(config.destination_tls_ca, config.destination_tls_cert,
                                      config.destination_tls_key)
                   if config.destination_tls_ca else None)
            return send_c_store(path, config.destination, config.ae_title,
                                config.network_timeout_seconds, tls)
        token = (config.stow_token_file.read_text().strip()
                 if config.stow_token_file is not None else None)
        return send_stow(path, destination, token, config.network_timeout_seconds)

    def _export(self, export: Export) -> None:
        path = self.spool.result_path(export.study_key, export.kind)
        if export.destination not in self.config.destinations:
            self.store.update_export(export, ExportState.REJECTED, "destination removed from "
                                     "the configuration")
            return
        if not path.is_file():
            attempt = Attempt(Outcome.PERMANENT, "the result object is missing from the spool")
        else:
            try:
                attempt = self._send(path, export.destination)
            except Exception as e:   # a name that does not resolve, a reset connection, ...
                attempt = Attempt(Outcome.TRANSIENT, type(e).__name__)
        attempts = export.attempts + 1
        if attempt.outcome is Outcome.SENT:
            state, outcome = ExportState.SENT, "sent"
        elif attempt.outcome is Outcome.PERMANENT:
            state, outcome = ExportState.REJECTED, "rejected"
        elif attempts >= self.config.export_attempts:
            state, outcome = ExportState.GAVE_UP, "gave_up"
        else:
            state, outcome = ExportState.PENDING, "retry"
        EXPORTS.labels(export.kind, outcome).inc()
        log.log(logging.INFO if outcome == "sent" else logging.WARNING,
                "export of a %s to %s: %s (%s, attempt %d of %d)", export.kind,
                export.destination, outcome, attempt.status, attempts,
                self.config.export_attempts)
        self.store.update_export(export, state, attempt.status,
                                 self.clock() + backoff(self.config, attempts)
                                 if state is ExportState.PENDING else 0.0)

    def _finish_exports(self) -> None:
        for study in self.store.studies(State.EXPORTING):
            exports = self.store.exports(study.key)
            if any(e.state is ExportState.PENDING for e in exports):
                continue
            failed = [e for e in exports if e.state is not ExportState.SENT]
            error = "; ".join(f"{e.kind} to {e.destination}: {e.state.value} ({e.last_status})"
                              for e in failed)
            self.spool.remove_study(study.key)
            self.store.set_state(study.key, State.FAILED if failed else State.DONE,
                                 error=error or study.error)

    # -- expiry ----------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        horizon = now - self.config.expire_seconds
        for study in self.store.studies(*GATHERING):
            if max(study.updated_at, study.last_instance_at or 0.0) < horizon:
                self._fail(study, "the images and the clinical record did not meet within "
                           f"{self.config.expire_seconds:.0f} s", State.EXPIRED, now)
                log.info("a study expired (state %s)", study.state.value)
        self.store.expire_records(horizon)
        self.store.purge_finished(now - self.config.status_retention_seconds)

    def _report(self) -> None:
        for state, count in self.store.counts_by_state().items():
            STUDIES.labels(state.value).set(count)
        results = sum(self.spool.result_bytes(s.key) for s in self.store.studies(State.EXPORTING))
        SPOOL_BYTES.set(self.store.instance_bytes() + results)

