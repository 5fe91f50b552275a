"""The embedded analytical store: one SQLite file, written idempotently by event id.

Every event id is recorded in ``ingested`` in the same transaction as the rows it produced, so
a batch that is delivered again after a consumer restart (at-least-once) adds nothing: the
first delivery either committed completely or not at all. Care-gap transitions are also keyed
by (change id, gap id, action), so a replayed engine output with a new envelope id cannot
count a gap twice either.

WAL journal mode lets the HTTP API read while the consumer writes; ``synchronous=FULL``
makes a committed batch survive power loss before its Kafka offsets are committed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.events import Event
from services.evaluation.facts import (
    AppointmentRow,
    ConsentRow,
    ContactRow,
    EnrolmentRow,
    ExitRow,
    Facts,
    GapRow,
    MeasurementRow,
    facts_of,
)

__all__ = ["SCHEMA_VERSION", "EvaluationStore", "IngestResult", "Reject", "StoreVersionError"]

#: Bumped whenever the table layout changes; an older file must be rebuilt by replaying.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ingested (
    event_id TEXT PRIMARY KEY, type TEXT NOT NULL, at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS enrolments (
    event_id TEXT PRIMARY KEY, participant TEXT NOT NULL, programme TEXT NOT NULL,
    model TEXT NOT NULL, at REAL NOT NULL, consent INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS enrolments_programme ON enrolments (programme, participant);
CREATE TABLE IF NOT EXISTS consents (
    event_id TEXT PRIMARY KEY, participant TEXT NOT NULL, at REAL NOT NULL,
    share INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_participant ON consents (participant);
CREATE TABLE IF NOT EXISTS exits (
    event_id TEXT PRIMARY KEY, participant TEXT NOT NULL, at REAL NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exits_participant ON exits (participant);
CREATE TABLE IF NOT EXISTS contacts (
    event_id TEXT PRIMARY KEY, participant TEXT NOT NULL, programme TEXT NOT NULL,
    model TEXT NOT NULL, at REAL NOT NULL, direction TEXT NOT NULL, outcome TEXT NOT NULL,
    completed INTEGER NOT NULL, minutes REAL, key_functions TEXT NOT NULL,
    group_session TEXT, session_number INTEGER, sessions_planned INTEGER, attended INTEGER
);
CREATE INDEX IF NOT EXISTS contacts_programme ON contacts (programme, participant);
CREATE TABLE IF NOT EXISTS measurements (
    event_id TEXT NOT NULL, idx INTEGER NOT NULL, participant TEXT NOT NULL,
    result_key TEXT NOT NULL, kind TEXT NOT NULL, effective_at REAL NOT NULL,
    reported_at REAL NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
    value1 REAL, value2 REAL,
    PRIMARY KEY (event_id, idx)
);
CREATE INDEX IF NOT EXISTS measurements_participant ON measurements (participant);
CREATE TABLE IF NOT EXISTS appointments (
    event_id TEXT PRIMARY KEY, participant TEXT NOT NULL, appointment_id TEXT NOT NULL,
    scheduled_at REAL NOT NULL, reported_at REAL NOT NULL, status TEXT NOT NULL,
    purpose TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS appointments_participant ON appointments (participant);
CREATE TABLE IF NOT EXISTS gaps (
    change_id TEXT NOT NULL, gap_id TEXT NOT NULL, action TEXT NOT NULL,
    event_id TEXT NOT NULL, participant TEXT NOT NULL, programme TEXT NOT NULL,
    model TEXT NOT NULL, code TEXT NOT NULL, kind TEXT NOT NULL, priority TEXT NOT NULL,
    sequence INTEGER NOT NULL, at REAL NOT NULL, opened_at REAL,
    PRIMARY KEY (change_id, gap_id, action)
);
CREATE INDEX IF NOT EXISTS gaps_programme ON gaps (programme, participant);
CREATE TABLE IF NOT EXISTS rejects (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    error_class TEXT NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
"""

_TABLES: tuple[tuple[str, int], ...] = (
    ("enrolments", len(EnrolmentRow._fields)),
    ("consents", len(ConsentRow._fields)),
    ("exits", len(ExitRow._fields)),
    ("contacts", len(ContactRow._fields)),
    ("measurements", len(MeasurementRow._fields)),
    ("appointments", len(AppointmentRow._fields)),
    ("gaps", len(GapRow._fields)),
)
_INSERTS = tuple(
    f"INSERT OR IGNORE INTO {name} VALUES ({', '.join('?' * width)})"  # noqa: S608
    for name, width in _TABLES
)
#: Keeps ``IN (...)`` lists well below SQLite's bound-variable limit.
_CHUNK = 500


class StoreVersionError(RuntimeError):
    """The file was written by another layout version of the store."""


@dataclass(frozen=True, kw_only=True)
class IngestResult:
    accepted: int
    duplicates: int


@dataclass(frozen=True, kw_only=True)
class Reject:
    """A record that could not be parsed: its coordinates and error class, never its bytes."""

    topic: str
    partition: int
    offset: int
    error_class: str


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


class EvaluationStore:
    """A connection to the store file; safe to share between threads (calls are serialised)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._init_schema()

    def _init_schema(self) -> None:
        with self._lock:
            (version,) = self._conn.execute("PRAGMA user_version").fetchone()
            has_tables = self._conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
            if has_tables and version != SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self.path} has store layout {version}, this code writes "
                    f"{SCHEMA_VERSION}: move it away and replay the topics to rebuild it"
                )
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> EvaluationStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ writing

    def ingest(self, events: Iterable[Event]) -> IngestResult:
        """Store the facts of every event not stored before, in one transaction."""
        batch: dict[str, Event] = {}
        duplicates = 0
        for event in events:
            if event.id in batch:
                duplicates += 1
            else:
                batch[event.id] = event
        with self._transaction() as conn:
            ids = list(batch)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                for (seen,) in conn.execute(
                    f"SELECT event_id FROM ingested WHERE event_id IN ({marks})",  # noqa: S608
                    chunk,
                ):
                    del batch[seen]
                    duplicates += 1
            facts = Facts.empty()
            for event in batch.values():
                facts_of(event, facts)
            conn.executemany(
                "INSERT INTO ingested VALUES (?, ?, ?)",
                [(e.id, e.type, e.time.timestamp()) for e in batch.values()],
            )
            for sql, rows in zip(_INSERTS, facts.tables(), strict=True):
                if rows:
                    conn.executemany(sql, rows)
        return IngestResult(accepted=len(batch), duplicates=duplicates)

    def record_rejects(self, rejects: Sequence[Reject]) -> None:
        if not rejects:
            return
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO rejects VALUES (?, ?, ?, ?)",
                [(r.topic, r.partition, r.offset, r.error_class) for r in rejects],
            )

    # ------------------------------------------------------------------ reading

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def programmes(self) -> dict[str, list[str]]:
        """Every programme the store has seen, with the peer-support models seen in it."""
        rows = self._query(
            "SELECT programme, model FROM enrolments UNION "
            "SELECT programme, model FROM contacts UNION "
            "SELECT programme, model FROM gaps ORDER BY 1, 2"
        )
        found: dict[str, list[str]] = {}
        for programme, model in rows:
            found.setdefault(programme, []).append(model)
        return found

    def extent(self) -> tuple[float, float] | None:
        """Earliest and latest event time ingested (POSIX seconds), or None when empty."""
        low, high = self._query("SELECT min(at), max(at) FROM ingested")[0]
        return None if low is None else (float(low), float(high))

    def counts(self) -> dict[str, int]:
        """Rows per table (for tests, the bench and operators)."""
        tables = ("ingested", *(name for name, _ in _TABLES), "rejects")
        return {
            name: int(self._query(f"SELECT count(*) FROM {name}")[0][0])  # noqa: S608
            for name in tables
        }

    def load(self, programme_id: str | None = None) -> Facts:
        """The facts of one programme (its participants' results too), or of all of them."""
        own_params: tuple[str, ...] = ()
        people_params: tuple[str, ...] = ()
        if programme_id is None:
            own, people = "", ""
        else:
            own, own_params = " WHERE programme = ?", (programme_id,)
            people = (
                " WHERE participant IN (SELECT participant FROM enrolments WHERE programme = ?)"
            )
            people_params = (programme_id,)

        def rows(table: str, where: str, params: tuple[str, ...]) -> list[tuple[Any, ...]]:
            return self._query(f"SELECT * FROM {table}{where}", params)  # noqa: S608

        return Facts(
            enrolments=[
                EnrolmentRow(e, p, g, m, at, bool(c))
                for e, p, g, m, at, c in rows("enrolments", own, own_params)
            ],
            consents=[
                ConsentRow(e, p, at, bool(s))
                for e, p, at, s in rows("consents", people, people_params)
            ],
            exits=[ExitRow(*r) for r in rows("exits", people, people_params)],
            contacts=[
                ContactRow(
                    event_id=r[0],
                    participant=r[1],
                    programme=r[2],
                    model=r[3],
                    at=r[4],
                    direction=r[5],
                    outcome=r[6],
                    completed=bool(r[7]),
                    minutes=r[8],
                    key_functions=r[9],
                    group_session=r[10],
                    session_number=r[11],
                    sessions_planned=r[12],
                    attended=_opt_bool(r[13]),
                )
                for r in rows("contacts", own, own_params)
            ],
            measurements=[MeasurementRow(*r) for r in rows("measurements", people, people_params)],
            appointments=[AppointmentRow(*r) for r in rows("appointments", people, people_params)],
            gaps=[GapRow(*r) for r in rows("gaps", own, own_params)],
        )
