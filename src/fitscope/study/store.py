"""The run store: finished runs in one SQLite file (stdlib ``sqlite3``, WAL mode).

Tables:

- ``meta``: ``format = fitscope-store`` and ``schema`` (the store's schema version, also
  SQLite's ``user_version``): what marks a file as a fitscope store.
- ``runs``: one row per run id (the config hash) with its status, engine, reason,
  attempt count, and JSON columns config, history, metrics, probes (a summary, see
  :func:`probe_summary`), timings, versions, and ``extra`` for the rest of the
  :meth:`~fitscope.run.Run.record` (stop epoch, diverged step, model spec).
- ``studies``: study name -> the study file's text.
- ``study_runs``: which runs make up each study (label, axis values, seed), so one
  shared store holds many studies and a run common to two of them is trained once.

Crash safety: every write is one ``BEGIN IMMEDIATE`` transaction (a killed process loses
at most the runs it had not committed), the journal is a write-ahead log with
``synchronous=FULL``, and writers wait on each other (busy timeout) instead of failing.
A run's row is written once: ``INSERT ... ON CONFLICT(run_id)`` leaves a stored row as it
is, unless its status is ``failed``, which a later result replaces.

Versions: schema 1 (fitscope 0.1.0 before issue 17) had no ``meta`` table and
``user_version`` 1; it is recognized by its three tables and their columns. Opened for
writing, a schema-1 store is migrated in one transaction (the ``meta`` table added,
``user_version`` set: its runs stay as they are); opened read-only it is read as is. Run
records carry their own version (``record["schema"]``, :func:`fitscope.run.upgrade_record`).
A file that is not a store (not SQLite, another program's database) is refused with
:class:`StoreError` and left byte for byte as it was: it is inspected through a read-only
connection before anything is written. An empty file (0 bytes, or an SQLite database with
nothing in it) is no store to read, but a writer makes it one: it is what a store looks
like while another driver creates it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from fitscope.run import Run, upgrade_record

from .spec import StudyRun, format_value

SCHEMA_VERSION = 2
FORMAT = "fitscope-store"
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 60.0
COLUMNS = ("status", "engine", "reason", "config", "history", "metrics", "probes",
           "timings", "versions")
JSON_COLUMNS = ("config", "history", "metrics", "probes", "timings", "versions")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    engine      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    config      TEXT NOT NULL,
    history     TEXT NOT NULL,
    metrics     TEXT NOT NULL,
    probes      TEXT NOT NULL,
    timings     TEXT NOT NULL,
    versions    TEXT NOT NULL,
    extra       TEXT NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS studies (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS study_runs (
    study    TEXT NOT NULL REFERENCES studies(name),
    run_id   TEXT NOT NULL,
    position INTEGER NOT NULL,
    label    TEXT NOT NULL,
    axes     TEXT NOT NULL,
    seed     INTEGER NOT NULL,
    PRIMARY KEY (study, run_id)
);
"""
# the tables and columns of schema 1, which had no meta table to say what the file is
SCHEMA1_TABLES = {
    "runs": {"run_id", "status", "engine", "reason", "attempts", "config", "history",
             "metrics", "probes", "timings", "versions", "extra", "finished_at"},
    "studies": {"name", "spec", "updated_at"},
    "study_runs": {"study", "run_id", "position", "label", "axes", "seed"},
}


class StoreError(ValueError):
    """A file that cannot be used as a run store (the message names it and why)."""


def store_version(path: Path, empty_ok: bool = False) -> int:
    """The schema version of the store at ``path``, read through a read-only connection
    (the file is not changed); 0 for an empty file or an SQLite database with nothing in
    it, when ``empty_ok`` (a writer makes it a store). StoreError when there is no file,
    or it is not a fitscope store, or one newer than this fitscope reads."""
    if not path.exists():
        raise StoreError(f"no such store: {path}")
    if not path.is_file():
        raise StoreError(f"store {path} is not a file")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if not head and empty_ok:
        return 0
    if not head:
        raise StoreError(f"{path} is not a fitscope store: the file is empty")
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a fitscope store: not an SQLite database")
    db = _connect(path, readonly=True)
    try:
        version = _schema_of(db)
    except sqlite3.OperationalError as exc:  # e.g. a WAL store in a read-only folder
        raise StoreError(f"store {path} cannot be read: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a fitscope store: {exc}") from None
    finally:
        db.close()
    if version is None or (version == 0 and not empty_ok):
        raise StoreError(f"{path} is not a fitscope store: an SQLite database without "
                         "fitscope's tables")
    if version > SCHEMA_VERSION:
        raise StoreError(f"store {path} has schema version {version}; this fitscope reads "
                         f"up to {SCHEMA_VERSION} (upgrade fitscope)")
    return version


def _schema_of(db: sqlite3.Connection) -> int | None:
    """The store schema of an open database: 0 when it holds nothing at all, None when it
    is not a fitscope store."""
    tables = {name for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    user_version = db.execute("PRAGMA user_version").fetchone()[0]
    if not tables and user_version == 0 and not db.execute(
            "SELECT count(*) FROM sqlite_master").fetchone()[0]:
        return 0
    if "meta" in tables:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT or not str(meta.get("schema", "")).isdigit():
            return None
        return max(int(meta["schema"]), user_version)  # a newer fitscope may bump either
    if user_version == 1 and all(
            name in tables and columns <= {row[1] for row in
                                           db.execute(f"PRAGMA table_info({name})")}
            for name, columns in SCHEMA1_TABLES.items()):
        return 1
    return None


def _wal(db: sqlite3.Connection) -> None:
    """Switch ``db`` to write-ahead logging. The switch needs the database to itself and
    SQLite answers "database is locked" at once (its busy timeout does not apply) while
    another driver holds it, e.g. several drivers creating one store together: retried
    for up to ``BUSY_TIMEOUT_S``."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    """A connection to ``path``; read-only ones through SQLite's ``mode=ro`` URI."""
    if readonly:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)


@dataclass(frozen=True)
class Member:
    """A run's place in a study: its configuration label, axis values (as text) and seed."""

    run_id: str
    label: str
    axes: dict[str, str]
    seed: int

    @classmethod
    def of(cls, run: StudyRun) -> Member:
        return cls(run.run_id, run.label,
                   {axis: format_value(value) for axis, value in run.axes.items()}, run.seed)


@dataclass(frozen=True)
class StoredRun:
    """A row of ``runs``: the run's record (as :meth:`Run.record` gives it) and how many
    attempts it took."""

    record: dict[str, Any]
    attempts: int
    finished_at: float

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    @property
    def status(self) -> str:
        return self.record["status"]

    def run(self) -> Run:
        return Run.from_record(self.record)


def store_record(run: Run) -> dict[str, Any]:
    """A run's record as the store keeps it: probes reduced by :func:`probe_summary`."""
    record = run.record()
    record["probes"] = probe_summary(record["probes"])
    return record


def probe_summary(probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The probe records kept in the store: the last probed step's scalar records.

    Probes are tidy records ``{step, layer, quantity, value}``; histograms and other
    non-scalar values, and every earlier step, are dropped (they are the bulk of a run's
    probe data). The result is still a list of tidy records, so a stored run loads back
    as a :class:`~fitscope.run.Run`.
    """
    if not probes:
        return []
    last = max(p["step"] for p in probes)
    return [p for p in probes if p["step"] == last
            and isinstance(p.get("value"), int | float) and not isinstance(p["value"], bool)]


class Store:
    """A SQLite run store. ``Store(path)`` opens it for writing (a missing or empty file
    becomes a new store; an older schema is migrated); ``Store(path, readonly=True)`` reads an
    existing store as it is, through a read-only connection. Either raises
    :class:`StoreError` for a file that is not a fitscope store."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path, self.readonly = Path(path), readonly
        if readonly:
            self.version = store_version(self.path)
            self.db = _connect(self.path, readonly=True)
            return
        # a file that is there is checked read-only first: nothing is written to a file
        # that is not a store. An empty one may be a store another driver is creating.
        if self.path.exists():
            store_version(self.path, empty_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = _connect(self.path, readonly=False)
        self.db.execute("PRAGMA synchronous=FULL")
        try:
            with self.transaction() as db:  # waits for a driver creating the same store
                found = _schema_of(db)
                if found is None or found > SCHEMA_VERSION:
                    raise StoreError(f"{self.path} is not a fitscope store any more: it "
                                     "changed while it was opened")
                for statement in SCHEMA.split(";"):
                    db.execute(statement)
                db.executemany("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                               "SET value = excluded.value",
                               [("format", FORMAT), ("schema", str(SCHEMA_VERSION))])
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self.db.close()
            raise
        _wal(self.db)
        self.version = SCHEMA_VERSION

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; it takes the write lock at once (``BEGIN IMMEDIATE``)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------
    def put(self, record: dict[str, Any], attempts: int = 1) -> bool:
        """Store a finished run in its own transaction; False when the run id was already
        stored with a status other than ``failed`` (the stored row is kept)."""
        body = dict(record)
        values = {"run_id": body.pop("run_id")}
        for col in COLUMNS:
            value = body.pop(col)
            values[col] = json.dumps(value) if col in JSON_COLUMNS else value
        values.update(extra=json.dumps(body), attempts=attempts, finished_at=time.time())
        names = ", ".join(values)
        updates = ", ".join(f"{k} = excluded.{k}" for k in values if k != "run_id")
        with self.transaction() as db:
            cursor = db.execute(
                f"INSERT INTO runs ({names}) VALUES ({', '.join('?' * len(values))}) "
                f"ON CONFLICT(run_id) DO UPDATE SET {updates} WHERE runs.status = 'failed'",
                list(values.values()))
            return cursor.rowcount == 1

    def register_study(self, name: str, spec_text: str, runs: Iterable[StudyRun]) -> None:
        """Record (or replace) a study's membership, in one transaction."""
        rows = [(name, m.run_id, i, m.label, json.dumps(m.axes), m.seed)
                for i, m in enumerate(map(Member.of, runs))]
        with self.transaction() as db:
            db.execute("INSERT INTO studies VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE "
                       "SET spec = excluded.spec, updated_at = excluded.updated_at",
                       (name, spec_text, time.time()))
            db.execute("DELETE FROM study_runs WHERE study = ?", (name,))
            db.executemany("INSERT INTO study_runs VALUES (?, ?, ?, ?, ?, ?)", rows)

    # -- reading ----------------------------------------------------------------------
    def statuses(self, run_ids: Iterable[str] | None = None) -> dict[str, str]:
        """``{run_id: status}`` of the stored runs (of ``run_ids`` only, when given)."""
        if run_ids is None:
            return dict(self.db.execute("SELECT run_id, status FROM runs"))
        return dict(self.db.execute("SELECT run_id, status FROM runs WHERE run_id IN "
                                    "(SELECT value FROM json_each(?))",
                                    (json.dumps(list(run_ids)),)))

    def runs(self, run_ids: Iterable[str] | None = None) -> list[StoredRun]:
        """Stored runs, in ``run_ids`` order (missing ones left out), or all by finish time."""
        if run_ids is None:
            rows = self.db.execute("SELECT * FROM runs ORDER BY finished_at, run_id")
        else:
            run_ids = list(run_ids)
            rows = self.db.execute("SELECT * FROM runs WHERE run_id IN "
                                   "(SELECT value FROM json_each(?))", (json.dumps(run_ids),))
        names = [d[0] for d in rows.description]
        stored = [_stored(dict(zip(names, row))) for row in rows.fetchall()]
        if run_ids is None:
            return stored
        by_id = {s.run_id: s for s in stored}
        return [by_id[rid] for rid in run_ids if rid in by_id]

    def get(self, prefix: str) -> StoredRun:
        """The run whose id starts with ``prefix``; KeyError when none or several match."""
        ids = [r for (r,) in self.db.execute(
            "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ?", (len(prefix), prefix))]
        if len(ids) != 1:
            what = "no run" if not ids else f"{len(ids)} runs ({', '.join(ids[:5])})"
            raise KeyError(f"{what} in {self.path} with an id starting {prefix!r}")
        return self.runs(ids)[0]

    def studies(self) -> list[str]:
        return [name for (name,) in self.db.execute("SELECT name FROM studies ORDER BY name")]

    def members(self, study: str) -> list[Member]:
        """The runs of ``study`` in the order its spec expands them; KeyError if unknown."""
        if study not in self.studies():
            raise KeyError(f"no study {study!r} in {self.path}; studies: {self.studies()}")
        rows = self.db.execute("SELECT run_id, label, axes, seed FROM study_runs "
                               "WHERE study = ? ORDER BY position", (study,))
        return [Member(rid, label, json.loads(axes), seed) for rid, label, axes, seed in rows]

    def spec_text(self, study: str) -> str:
        """The study file's text as it was when the study last ran."""
        row = self.db.execute("SELECT spec FROM studies WHERE name = ?", (study,)).fetchone()
        if row is None:
            raise KeyError(f"no study {study!r} in {self.path}; studies: {self.studies()}")
        return row[0]

    def membership(self) -> dict[str, list[str]]:
        """``{run_id: [study, ...]}`` for every run that belongs to a study."""
        out: dict[str, list[str]] = {}
        for study, rid in self.db.execute("SELECT study, run_id FROM study_runs "
                                          "ORDER BY study"):
            out.setdefault(rid, []).append(study)
        return out


def _stored(row: dict[str, Any]) -> StoredRun:
    """A row as a :class:`StoredRun`; a record of an older schema is brought up to date
    (:func:`~fitscope.run.upgrade_record`)."""
    record = {"run_id": row["run_id"], **json.loads(row["extra"])}
    for col in COLUMNS:
        record[col] = json.loads(row[col]) if col in JSON_COLUMNS else row[col]
    return StoredRun(upgrade_record(record), row["attempts"], row["finished_at"])
