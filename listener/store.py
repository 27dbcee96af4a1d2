"""The listener's state in one SQLite file: studies, received instances, clinical records waiting
for their images, and exports.

Every write is a transaction with ``synchronous=FULL`` (WAL), so what the SCP or the Studies API
acknowledged survives a crash, and a restart resumes pending work from here. The schema is
versioned with SQLite's ``user_version``; :data:`MIGRATIONS` brings an older file up to date at
open. No identifier is stored: studies and records are keyed by :class:`listener.spool.Keys`.
A clinical record (the patient's data) is kept only until its study is assessed, fails or
expires; a study's status row (counts, states, export outcomes) until the retention time.

One process writes (the listener); access is serialised by a lock, and each call is one short
transaction. A deployment with several listeners gives each its own spool and database (one
listener per PACS connection, docs/pacs.md): DICOM associations and the files they deliver are
tied to one disk, and SQLite is the right store for that.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class State(StrEnum):
    RECEIVING = "receiving"
    AWAITING_CLINICAL = "awaiting_clinical"
    AWAITING_IMAGES = "awaiting_images"
    ASSESSING = "assessing"
    EXPORTING = "exporting"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


# states in which the images and the record are still being gathered
GATHERING = (State.RECEIVING, State.AWAITING_CLINICAL, State.AWAITING_IMAGES)
FINISHED = (State.DONE, State.FAILED, State.EXPIRED)


class ExportState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    REJECTED = "rejected"
    GAVE_UP = "gave_up"


MIGRATIONS = [
    # 1: the first schema
    """
    CREATE TABLE studies (
        key TEXT PRIMARY KEY,
        accession_key TEXT,
        state TEXT NOT NULL,
        instances INTEGER NOT NULL DEFAULT 0,
        series INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        received_at REAL NOT NULL,
        last_instance_at REAL,
        updated_at REAL NOT NULL,
        request_id TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        stage INTEGER NOT NULL DEFAULT 0,
        clinical_received INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        late_instances INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX studies_accession ON studies(accession_key);
    CREATE INDEX studies_state ON studies(state);
    CREATE TABLE instances (
        study_key TEXT NOT NULL,
        key TEXT NOT NULL,
        series_key TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (study_key, key)
    );
    CREATE TABLE records (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        stage INTEGER NOT NULL,
        clinical BLOB NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE exports (
        study_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        destination TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_status TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (study_key, kind, destination)
    );
    """,
]


@dataclass(frozen=True)
class Study:
    key: str
    accession_key: str | None
    state: State
    instances: int
    series: int
    bytes: int
    received_at: float
    last_instance_at: float | None
    updated_at: float
    request_id: str
    error: str
    stage: int
    clinical_received: bool
    attempts: int
    next_attempt_at: float
    late_instances: int


@dataclass(frozen=True)
class Record:
    kind: str          # "study" or "accession"
    key: str
    stage: int         # cervix.v1.Stage
    clinical: bytes    # a serialised cervix.v1.ClinicalRecord
    received_at: float


@dataclass(frozen=True)
class Export:
    study_key: str
    kind: str
    destination: str
    state: ExportState
    attempts: int
    next_attempt_at: float
    last_status: str


class StoreError(RuntimeError):
    pass


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        path.chmod(0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.version
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} has schema version {version}; this listener knows "
                             f"up to {len(MIGRATIONS)} (a newer listener wrote it)")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._transaction() as db:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def writable(self) -> bool:
        try:
            with self._transaction() as db:
                db.execute("PRAGMA user_version")
                db.execute("CREATE TEMP TABLE IF NOT EXISTS probe (x)")
            return True
        except sqlite3.Error:
            return False

    # -- studies ---------------------------------------------------------------------------

    def add_instance(self, study_key: str, accession_key: str | None, series_key: str,
                     instance_key: str, size: int, now: float | None = None) -> State:
        """Record a received instance (its file already on disk); the study's state after it.

        A study that was finished (done, failed, expired) starts a new round: what the PACS
        sends again is assessed again (its record must be sent again). An instance that arrives
        while the study is being assessed or exported is kept and counted as late."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            row = db.execute("SELECT state FROM studies WHERE key=?", (study_key,)).fetchone()
            if row is not None and State(row["state"]) in FINISHED:
                db.execute("DELETE FROM instances WHERE study_key=?", (study_key,))
                db.execute("DELETE FROM exports WHERE study_key=?", (study_key,))
                db.execute("DELETE FROM studies WHERE key=?", (study_key,))
                row = None
            if row is None:
                db.execute("INSERT INTO studies (key, accession_key, state, received_at, "
                           "updated_at) VALUES (?, ?, ?, ?, ?)",
                           (study_key, accession_key, State.RECEIVING.value, now, now))
                state = State.RECEIVING
            else:
                state = State(row["state"])
            previous = db.execute("SELECT bytes FROM instances WHERE study_key=? AND key=?",
                                  (study_key, instance_key)).fetchone()
            db.execute("INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?)",
                       (study_key, instance_key, series_key, size, now))
            added = 0 if previous is not None else 1
            grown = size - (previous["bytes"] if previous is not None else 0)
            late = 1 if state in (State.ASSESSING, State.EXPORTING) and added else 0
            db.execute("UPDATE studies SET instances=instances+?, bytes=bytes+?, "
                       "last_instance_at=?, updated_at=?, late_instances=late_instances+?, "
                       "accession_key=COALESCE(accession_key, ?), series=(SELECT COUNT("
                       "DISTINCT series_key) FROM instances WHERE study_key=?) WHERE key=?",
                       (added, grown, now, now, late, accession_key, study_key, study_key))
            return state

    def study_bytes(self, study_key: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT bytes FROM studies WHERE key=?",
                                   (study_key,)).fetchone()
        return int(row["bytes"]) if row is not None else 0

    def study(self, key: str) -> Study | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM studies WHERE key=?", (key,)).fetchone()
            return self._study(row) if row is not None else None

    def study_by_accession(self, accession_key: str) -> Study | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM studies WHERE accession_key=? ORDER BY "
                                   "received_at DESC LIMIT 1", (accession_key,)).fetchone()
            return self._study(row) if row is not None else None

    def studies(self, *states: State) -> list[Study]:
        marks = ",".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM studies WHERE state IN ({marks})",
                                    [s.value for s in states]).fetchall()
            return [self._study(r) for r in rows]

    def _study(self, row: sqlite3.Row) -> Study:
        return Study(row["key"], row["accession_key"], State(row["state"]), row["instances"],
                     row["series"], row["bytes"], row["received_at"], row["last_instance_at"],
                     row["updated_at"], row["request_id"], row["error"], row["stage"],
                     bool(row["clinical_received"]), row["attempts"], row["next_attempt_at"],
                     row["late_instances"])

    def instance_bytes(self) -> int:
        """Bytes of every received instance on the spool (a row per file while it is there)."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM instances")
                       .fetchone()[0])

    def instance_keys(self, study_key: str) -> list[str]:
        with self._lock:
            return [r["key"] for r in self._db.execute(
                "SELECT key FROM instances WHERE study_key=? ORDER BY series_key, received_at",
                (study_key,))]

    def set_state(self, key: str, state: State, *, error: str | None = None,
                  request_id: str | None = None, stage: int | None = None,
                  clinical_received: bool | None = None, next_attempt_at: float | None = None,
                  attempts: int | None = None, now: float | None = None) -> None:
        now = time.time() if now is None else now
        fields = {"state": state.value, "updated_at": now, "error": error,
                  "request_id": request_id, "stage": stage,
                  "clinical_received": None if clinical_received is None
                  else int(clinical_received), "next_attempt_at": next_attempt_at,
                  "attempts": attempts}
        given = {k: v for k, v in fields.items() if v is not None}
        with self._transaction() as db:
            db.execute(f"UPDATE studies SET {', '.join(f'{k}=?' for k in given)} WHERE key=?",
                       [*given.values(), key])

    def forget_instances(self, key: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM instances WHERE study_key=?", (key,))

    def delete_study(self, key: str) -> None:
        with self._transaction() as db:
            for table, column in (("instances", "study_key"), ("exports", "study_key"),
                                  ("studies", "key")):
                db.execute(f"DELETE FROM {table} WHERE {column}=?", (key,))

    def counts_by_state(self) -> dict[State, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM studies GROUP BY state")
            found = {State(r["state"]): int(r["n"]) for r in rows}
            waiting = self._db.execute(
                "SELECT COUNT(*) FROM records r WHERE NOT EXISTS (SELECT 1 FROM studies s WHERE "
                "(r.kind='study' AND s.key=r.key) OR (r.kind='accession' AND "
                "s.accession_key=r.key))").fetchone()[0]
        found[State.AWAITING_IMAGES] = found.get(State.AWAITING_IMAGES, 0) + int(waiting)
        return {s: found.get(s, 0) for s in State}

    # -- clinical records ------------------------------------------------------------------

    def put_record(self, record: Record) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
                       (record.kind, record.key, record.stage, record.clinical,
                        record.received_at))

    def record(self, kind: str, key: str) -> Record | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM records WHERE kind=? AND key=?",
                                   (kind, key)).fetchone()
        return Record(row["kind"], row["key"], row["stage"], row["clinical"],
                      row["received_at"]) if row is not None else None

    def record_of(self, study: Study) -> Record | None:
        """The study's record: the one sent for its StudyInstanceUID, else for its accession."""
        found = self.record("study", study.key)
        if found is None and study.accession_key:
            found = self.record("accession", study.accession_key)
        return found

    def delete_records_of(self, study: Study) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM records WHERE kind='study' AND key=?", (study.key,))
            if study.accession_key:
                db.execute("DELETE FROM records WHERE kind='accession' AND key=?",
                           (study.accession_key,))

    def expire_records(self, before: float) -> int:
        """Delete records older than ``before`` that no study in progress uses."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM records WHERE received_at < ? AND NOT EXISTS (SELECT 1 FROM studies "
                "s WHERE s.state IN ('assessing') AND ((records.kind='study' AND "
                "s.key=records.key) OR (records.kind='accession' AND "
                "s.accession_key=records.key)))", (before,))
            return cursor.rowcount

    def purge_finished(self, before: float) -> int:
        with self._transaction() as db:
            keys = [r["key"] for r in db.execute(
                "SELECT key FROM studies WHERE state IN ('done', 'failed', 'expired') AND "
                "updated_at < ?", (before,))]
            for key in keys:
                db.execute("DELETE FROM exports WHERE study_key=?", (key,))
                db.execute("DELETE FROM studies WHERE key=?", (key,))
            return len(keys)

    # -- exports ---------------------------------------------------------------------------

    def add_exports(self, study_key: str, kinds: list[str], destinations: tuple[str, ...]
                    ) -> None:
        with self._transaction() as db:
            for kind in kinds:
                for destination in destinations:
                    db.execute("INSERT OR REPLACE INTO exports (study_key, kind, destination, "
                               "state) VALUES (?, ?, ?, ?)",
                               (study_key, kind, destination, ExportState.PENDING.value))

    def exports(self, study_key: str | None = None, *, due_before: float | None = None
                ) -> list[Export]:
        query, args = "SELECT * FROM exports WHERE 1=1", list[object]()
        if study_key is not None:
            query += " AND study_key=?"
            args.append(study_key)
        if due_before is not None:
            query += " AND state='pending' AND next_attempt_at <= ?"
            args.append(due_before)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY study_key, kind", args).fetchall()
        return [Export(r["study_key"], r["kind"], r["destination"], ExportState(r["state"]),
                       r["attempts"], r["next_attempt_at"], r["last_status"]) for r in rows]

    def update_export(self, export: Export, state: ExportState, status: str,
                      next_attempt_at: float = 0.0) -> None:
        with self._transaction() as db:
            db.execute("UPDATE exports SET state=?, attempts=attempts+1, last_status=?, "
                       "next_attempt_at=? WHERE study_key=? AND kind=? AND destination=?",
                       (state.value, status, next_attempt_at, export.study_key, export.kind,
                        export.destination))
