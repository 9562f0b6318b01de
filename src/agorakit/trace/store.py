"""The SQLite trace store and its batching writer thread.

Writers hand records to a queue and return at once; one daemon thread per
store drains the queue in batches inside a transaction. The store flushes on
interpreter exit, and callers flush explicitly when a run fails.
WAL mode lets ``agora trace`` read while a run is still writing.
"""

from __future__ import annotations

import atexit
import json
import queue
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agorakit.trace.tracer import Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    span_id    TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL,
    parent_id  TEXT,
    name       TEXT NOT NULL,
    start_ns   INTEGER NOT NULL,
    end_ns     INTEGER,
    status     TEXT NOT NULL DEFAULT 'open',
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS spans_run ON spans (run_id, start_ns);
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT NOT NULL,
    span_id    TEXT,
    ts_ns      INTEGER NOT NULL,
    name       TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id, ts_ns);
"""

_STOP = object()
LINGER_S = 0.05


def _plain(value: Any) -> Any:
    # Messages and other framework values know how to become JSON.
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else str(value)


def _json(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False)


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create if needed) a trace database in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


class TraceStore:
    """A trace sink that persists records to SQLite from a background thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._closed = False
        self._hurry = threading.Event()
        self.write_errors = 0
        connect(self.path).close()  # fail here, in the caller, if the path is unusable
        self._thread = threading.Thread(target=self._run, name=f"agorakit-trace:{self.path.name}", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- sink protocol --------------------------------------------------

    def write(self, record: Record) -> None:
        if self._closed:
            return
        with self._lock:
            self._pending += 1
        self._queue.put(record)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record written so far is committed. True if it was."""
        self._hurry.set()
        try:
            with self._drained:
                return self._drained.wait_for(lambda: self._pending == 0, timeout=timeout)
        finally:
            self._hurry.clear()

    def close(self) -> None:
        if self._closed:
            return
        self.flush(timeout=10.0)
        self._closed = True
        self._hurry.set()
        self._queue.put(_STOP)
        self._thread.join(timeout=10.0)
        atexit.unregister(self.close)

    # -- writer thread --------------------------------------------------

    def _run(self) -> None:
        conn = connect(self.path)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                # Linger so one transaction carries many records: a commit per
                # record would cost more than the turn that produced it.
                if not self._hurry.is_set():
                    self._hurry.wait(LINGER_S)
                batch = [first]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = _STOP in batch
                records = [r for r in batch if r is not _STOP]
                try:
                    self._commit(conn, records)
                except Exception:  # never let the writer die: flush() would then wait forever
                    self.write_errors += 1
                with self._drained:
                    self._pending -= len(records)
                    self._drained.notify_all()
                if stop:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, records: Iterable[Record]) -> None:
        rows = _Rows()
        for record in records:
            try:
                rows.add(record)
            except Exception:  # attributes that cannot be serialised: drop this record, not the batch
                self.write_errors += 1
        with conn:
            conn.executemany(_INSERT_SPAN, rows.spans())
            conn.executemany(_END_SPAN, rows.ends)
            conn.executemany(_INSERT_EVENT, rows.events)


_INSERT_SPAN = (
    "INSERT OR REPLACE INTO spans (span_id, run_id, parent_id, name, start_ns, end_ns, status, attributes)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_END_SPAN = "UPDATE spans SET end_ns = ?, status = ?, attributes = ? WHERE span_id = ?"
_INSERT_EVENT = "INSERT INTO events (run_id, span_id, ts_ns, name, attributes) VALUES (?, ?, ?, ?, ?)"


class _Rows:
    """The rows one batch writes. A span that starts and ends within the batch
    becomes one finished row instead of an insert and an update."""

    def __init__(self) -> None:
        self.started: dict[str, list[Any]] = {}
        self.ends: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []

    def add(self, record: Record) -> None:
        kind = record[0]
        if kind == "event":
            _, run_id, span_id, ts_ns, name, attrs = record
            self.events.append((run_id, span_id, ts_ns, name, _json(attrs)))
        elif kind == "span_start":
            _, run_id, span_id, parent_id, name, start_ns, attrs = record
            self.started[span_id] = [span_id, run_id, parent_id, name, start_ns, None, "open", attrs]
        elif kind == "span_end":
            _, run_id, span_id, end_ns, status, attrs = record
            row = self.started.get(span_id)
            if row is not None:
                row[5:] = [end_ns, status, attrs]
            else:
                self.ends.append((end_ns, status, _json(attrs), span_id))

    def spans(self) -> list[tuple[Any, ...]]:
        return [(*row[:7], _json(row[7])) for row in self.started.values()]


_stores: dict[Path, TraceStore] = {}
_stores_lock = threading.Lock()


def open_store(path: Path | str) -> TraceStore:
    """The process's one writer for ``path`` (one thread per database file)."""
    key = Path(path).expanduser().resolve()
    with _stores_lock:
        store = _stores.get(key)
        if store is None or store._closed:
            store = _stores[key] = TraceStore(key)
        return store
