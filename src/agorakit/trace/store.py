"""The SQLite trace store and its batching writer thread.

Writers hand records to a queue and return at once; one daemon thread per
store drains the queue in batches inside a transaction. The store flushes on
interpreter exit, and callers flush explicitly when a run fails.
WAL mode lets ``agora trace`` read while a run is still writing.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from agorakit.trace.tracer import Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    span_id    TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    parent_id  TEXT,
    name       TEXT NOT NULL,
    start_ns   INTEGER NOT NULL,
    end_ns     INTEGER,
    status     TEXT NOT NULL DEFAULT 'open',
    attributes TEXT NOT NULL DEFAULT '{}',
    UNIQUE (run_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_run ON spans (run_id, start_ns);
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    span_id    TEXT,
    ts_ns      INTEGER NOT NULL,
    name       TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id, ts_ns);
"""
# A span is keyed by its run and its id, not its id alone: run ids grow with time, so each batch's
# spans go in at the end of that index, where random span ids alone scattered them over all of it
# (every insert a page written again: the writer's cost per run doubled as traces.db grew to 10^5 runs).
# Databases made before keep their span_id key; every statement here works on both.
# events.id is a plain rowid, not AUTOINCREMENT: ids still grow with every insert
# (rows are never deleted), without the extra sqlite_sequence write per row.

_STOP = object()
LINGER_S = 0.05
MAX_BATCH = 1000
_SLICES = 5


def _plain(value: Any) -> Any:
    """What JSON cannot hold as is: framework values (Messages, ToolCalls, Usage) as their
    ``to_dict()``, pydantic models as their JSON data, sets as lists, the rest as ``str``."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):  # a pydantic model (not imported here: the store stays light)
        return model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


# Dataclasses go through _plain too: the store keeps the shape their ``to_dict`` gives
# (what readers and replay expect), not every field.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


def _json(attributes: dict[str, Any]) -> str:
    """A record's attributes as JSON text, on the writer thread.

    orjson is several times faster than ``json.dumps`` and than pydantic_core
    (whose first call also imports uuid, ipaddress and more): the writer's
    time is the trace's cost, since it holds the GIL the run needs. Anything it
    cannot write goes through ``json.dumps`` as before, so an unserialisable
    record still fails the same way (and only that record).
    """
    # A snapshot in one C call: a thread may still be adding keys while this one writes.
    plain = attributes.copy()
    try:
        return orjson.dumps(plain, default=_plain, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is one: e.g. an int beyond 64 bits
        return json.dumps(plain, default=_plain, ensure_ascii=False)


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create if needed) a trace database in WAL mode.

    The schema is created in one transaction (in WAL mode with synchronous=NORMAL
    that commit does not wait for the disk), before anyone can see the file without
    its tables: a reader opening it next always finds them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(f"BEGIN;\n{SCHEMA}\nCOMMIT;")
    return conn


class TraceStore:
    """A trace sink that persists records to SQLite from a background thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._hurry = threading.Event()
        self.write_errors = 0
        # Opened here so an unusable path fails in the caller; then handed to the writer thread
        # (the only one to use it from now on) rather than opened a second time there.
        self._conn = connect(self.path)
        self._thread = threading.Thread(target=self._run, name=f"agorakit-trace:{self.path.name}", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- sink protocol --------------------------------------------------

    def write(self, record: Record) -> None:
        # The whole hot-path cost of a record: one put on a lock-free queue (no
        # counter, no lock). flush() finds out what is done by queueing a marker.
        if not self._closed:
            self._queue.put(record)

    def forget(self, run_id: str) -> None:
        """Delete what the store holds of ``run_id``, before any record written after this call
        (a resumed durable run writes its whole trace again, replayed steps included)."""
        if not self._closed:
            self._queue.put(("forget", run_id))

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record written so far is committed. True if it was."""
        if self._closed or not self._thread.is_alive():
            return True  # nothing more will be written; close() flushed what there was
        done = threading.Event()
        self._hurry.set()
        try:
            # The queue is FIFO: once the writer reaches the marker, every record put before it is committed.
            self._queue.put(done)
            return done.wait(timeout)
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
        conn = self._conn
        try:
            while True:
                first = self._queue.get()
                # Linger so one transaction carries many records: a commit per
                # record would cost more than the turn that produced it.
                if first is not _STOP:
                    self._linger()
                batch = [first]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                records = [item for item in batch if isinstance(item, tuple)]
                if records:
                    try:
                        self._commit(conn, records)
                    except Exception:  # never let the writer die: flush() would then wait forever
                        self.write_errors += 1
                for item in batch:
                    if isinstance(item, threading.Event):
                        item.set()  # a flush() waiting for everything queued before it
                if any(item is _STOP for item in batch):
                    return
        finally:
            conn.close()
            self._release_waiters()

    def _linger(self) -> None:
        # Up to LINGER_S, in slices, ending early once MAX_BATCH records wait: a fast run
        # would otherwise queue a whole run's records (and their attribute copies) at once.
        for _ in range(_SLICES):
            if self._hurry.wait(LINGER_S / _SLICES) or self._queue.qsize() >= MAX_BATCH:
                return

    def _release_waiters(self) -> None:
        # A flush() that raced close() must not wait for a writer that has stopped.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, threading.Event):
                item.set()

    def _commit(self, conn: sqlite3.Connection, records: Iterable[Record]) -> None:
        rows = _Rows()
        for record in records:
            try:
                rows.add(record)
            except Exception:  # attributes that cannot be serialised: drop this record, not the batch
                self.write_errors += 1
        with conn:
            for run_id in rows.forgotten:
                conn.execute("DELETE FROM spans WHERE run_id = ?", (run_id,))
                conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            # Many rows per statement: executemany would release and take back the GIL for every row,
            # and a busy event loop holds it for up to 5 ms at a time, so under load the writer managed a
            # few hundred rows a second. Rows as VALUES cost SQLite half what one JSON array of them
            # did (json_each, and a json_extract per column).
            _insert(conn, _INSERT_SPANS, rows.spans())
            if rows.ends:
                conn.execute(_END_SPANS, (orjson.dumps(rows.ends).decode(),))
            _insert(conn, _INSERT_EVENTS, rows.events)


_INSERT_SPANS = "INSERT OR REPLACE INTO spans (span_id, run_id, parent_id, name, start_ns, end_ns, status, attributes)"
_INSERT_EVENTS = "INSERT INTO events (run_id, span_id, ts_ns, name, attributes)"


def _insert(conn: sqlite3.Connection, insert: str, rows: list[tuple[Any, ...]]) -> None:
    # Up to 64 rows a statement (well under SQLite's 32,766 parameters), the rest in powers of two:
    # few statement shapes, so the connection's cache of prepared statements keeps them all.
    start = 0
    for size in (64, 32, 16, 8, 4, 2, 1):
        while len(rows) - start >= size:
            part = rows[start : start + size]
            conn.execute(_values(insert, len(part[0]), size), list(chain.from_iterable(part)))
            start += size


@functools.cache
def _values(insert: str, columns: int, count: int) -> str:
    row = f"({', '.join('?' * columns)})"
    return f"{insert} VALUES {', '.join([row] * count)}"


_END_SPANS = (
    "UPDATE spans SET end_ns = ended.end_ns, status = ended.status, attributes = ended.attributes"
    " FROM (SELECT json_extract(value, '$[0]') AS end_ns, json_extract(value, '$[1]') AS status,"
    " json_extract(value, '$[2]') AS attributes, json_extract(value, '$[3]') AS run_id,"
    " json_extract(value, '$[4]') AS span_id FROM json_each(?)) AS ended"
    " WHERE spans.run_id = ended.run_id AND spans.span_id = ended.span_id"
)


class _Rows:
    """The rows one batch writes. A span that starts and ends within the batch
    becomes one finished row instead of an insert and an update."""

    def __init__(self) -> None:
        self.started: dict[str, list[Any]] = {}
        self.ends: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.forgotten: list[str] = []

    def add(self, record: Record) -> None:
        kind = record[0]
        if kind == "forget":
            self.forgotten.append(record[1])
        elif kind == "event":
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
                self.ends.append((end_ns, status, _json(attrs), run_id, span_id))

    def spans(self) -> list[tuple[Any, ...]]:
        return [(*row[:7], _json(row[7])) for row in self.started.values()]


_stores: dict[Path, TraceStore] = {}
# The path as given, to its store: resolving a path costs a system call per folder, on every run.
_given: dict[str | Path, TraceStore] = {}
_stores_lock = threading.Lock()


def open_store(path: Path | str) -> TraceStore:
    """The process's one writer for ``path`` (one thread per database file)."""
    store = _given.get(path)
    if store is not None and not store._closed:
        return store
    key = Path(path).expanduser().resolve()
    with _stores_lock:
        store = _stores.get(key)
        if store is None or store._closed:
            store = _stores[key] = TraceStore(key)
        if os.path.isabs(path):  # a relative path names another file once the working folder changes
            _given[path] = store
        return store


# The variables the default store's path is made of, to that store: every traced run asks for
# it, and building the path again each time costs more than the rest of starting a trace.
_DEFAULT_FROM = ("AGORAKIT_TRACE_DB", "AGORAKIT_HOME", "HOME")
_default: dict[tuple[str | None, ...], TraceStore] = {}


def open_default_store() -> TraceStore:
    """The store the settings name (``$AGORAKIT_TRACE_DB``, else ``<home>/traces.db``)."""
    environ = os.environ
    key = tuple(environ.get(name) for name in _DEFAULT_FROM)
    store = _default.get(key)
    if store is not None and not store._closed:
        return store
    from agorakit.core.settings import trace_db_path

    path = trace_db_path()
    store = open_store(path)
    if path.is_absolute():
        _default[key] = store
    return store
