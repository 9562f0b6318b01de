"""Read-only access to a trace database, for ``agora trace`` and tests.

The database is opened read-only (``mode=ro``); thanks to WAL mode it can be
read while a run is still writing to it. Spans whose process died mid-run stay
``open`` (no end time) and are returned like any other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agorakit.core.errors import ConfigError
from agorakit.trace import attributes as attr
from agorakit.trace.records import (
    EventRecord,
    RunSummary,
    RunTrace,
    SpanNode,
    SpanRecord,
    UsageTotals,
    build_summary,
    message_text,
    preview,
    summarize,
)

__all__ = [
    "LAST",
    "EventRecord",
    "RunSummary",
    "RunTrace",
    "SpanNode",
    "SpanRecord",
    "list_runs",
    "load_run",
    "message_text",
    "preview",
    "resolve_run_id",
    "summarize",
]

LAST = "last"


# -- opening -----------------------------------------------------------


# -- opening -----------------------------------------------------------


@contextmanager
def connect_readonly(db_path: Path | str) -> Iterator[sqlite3.Connection]:
    """The trace database, read-only; a clear error when it is missing or not one."""
    path = Path(db_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"no trace database at {path}", hint="run `agora run` first, or pass --db PATH")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as error:
        raise ConfigError(f"cannot open trace database {path}: {error}") from error
    try:
        yield conn
    except sqlite3.DatabaseError as error:
        raise ConfigError(
            f"cannot read trace database {path}: {error}",
            hint="is it an agorakit trace database? run `agora run` to create one",
        ) from error
    finally:
        conn.close()


def _attributes(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"agorakit.unparsed_attributes": raw}
    return value if isinstance(value, dict) else {"value": value}


_SPAN_COLUMNS = "span_id, run_id, parent_id, name, start_ns, end_ns, status, attributes"


def _span(row: Sequence[Any]) -> SpanRecord:
    span_id, run_id, parent_id, name, start_ns, end_ns, status, attrs = row
    return SpanRecord(span_id, run_id, parent_id, name, start_ns, end_ns, status, _attributes(attrs))


def _event(row: Sequence[Any]) -> EventRecord:
    event_id, run_id, span_id, ts_ns, name, attrs = row
    return EventRecord(event_id, run_id, span_id, ts_ns, name, _attributes(attrs))


def _json_path(key: str) -> str:
    return "'$.\"" + key + "\"'"


_OP = f"CASE WHEN json_valid(attributes) THEN json_extract(attributes, {_json_path(attr.OPERATION)}) END"
_CHAT = f"op = '{attr.OP_CHAT}'"


def _chat_sum(key: str, kind: str) -> str:
    return f"TOTAL(CASE WHEN {_CHAT} THEN CAST(json_extract(attributes, {_json_path(key)}) AS {kind}) END)"


# Per-run counts and usage summed inside SQLite, so listing never loads a big run's spans.
_TOTALS_SQL = f"""
SELECT run_id, MIN(start_ns), TOTAL({_CHAT}), TOTAL(op = '{attr.OP_TURN}'),
       {_chat_sum(attr.INPUT_TOKENS, "INTEGER")}, {_chat_sum(attr.OUTPUT_TOKENS, "INTEGER")},
       {_chat_sum(attr.COST_USD, "REAL")}
FROM (SELECT run_id, start_ns, attributes, {_OP} AS op FROM spans WHERE run_id IN ({{marks}}))
GROUP BY run_id
"""
_MODEL = f"json_extract(attributes, {_json_path(attr.REQUEST_MODEL)})"
_FIRST_CHAT_MODEL_SQL = f"""
SELECT {_MODEL} FROM spans
WHERE run_id = ? AND {_OP} = '{attr.OP_CHAT}' AND {_MODEL} IS NOT NULL ORDER BY start_ns, rowid LIMIT 1
"""
_NEWEST_SQL = (
    "SELECT run_id, MIN(start_ns) AS started FROM spans GROUP BY run_id ORDER BY started DESC, run_id DESC LIMIT ?"
)
# A prefix as an index range (then checked exactly): no scan of the whole table.
_PREFIX_SQL = (
    "SELECT DISTINCT run_id FROM spans WHERE run_id >= ? AND run_id < ? AND substr(run_id, 1, ?) = ?"
    " ORDER BY run_id LIMIT 6"
)


def _list_totals(conn: sqlite3.Connection, run_ids: list[str], marks: str) -> dict[str, tuple[int, UsageTotals]]:
    found: dict[str, tuple[int, UsageTotals]] = {}
    for run_id, started, calls, steps, tokens_in, tokens_out, cost in conn.execute(
        _TOTALS_SQL.format(marks=marks), run_ids
    ):
        found[run_id] = (
            int(started),
            UsageTotals(int(calls), int(steps), int(tokens_in), int(tokens_out), float(cost)),
        )
    return found


def _list_roots(conn: sqlite3.Connection, run_ids: list[str], marks: str) -> dict[str, list[SpanRecord]]:
    roots: dict[str, list[SpanRecord]] = {run_id: [] for run_id in run_ids}
    sql = f"SELECT {_SPAN_COLUMNS} FROM spans WHERE run_id IN ({marks}) AND parent_id IS NULL ORDER BY start_ns, rowid"
    for row in conn.execute(sql, run_ids):
        roots[row[1]].append(_span(row))
    for run_id, found in roots.items():
        if not found:  # the root span was lost: the earliest span stands in, as in records.root_spans()
            sql = f"SELECT {_SPAN_COLUMNS} FROM spans WHERE run_id = ? ORDER BY start_ns, rowid LIMIT 1"
            found.append(_span(conn.execute(sql, (run_id,)).fetchone()))
    return roots


def list_runs(db_path: Path | str, limit: int = 20) -> list[RunSummary]:
    """The ``limit`` most recently started runs, newest first."""
    if limit <= 0:
        return []
    with connect_readonly(db_path) as conn:
        run_ids = [str(row[0]) for row in conn.execute(_NEWEST_SQL, (limit,))]
        if not run_ids:
            return []
        marks = ", ".join("?" for _ in run_ids)
        totals = _list_totals(conn, run_ids, marks)
        roots = _list_roots(conn, run_ids, marks)
        for run_id in run_ids:
            if roots[run_id][0].attributes.get(attr.REQUEST_MODEL) is None:
                row = conn.execute(_FIRST_CHAT_MODEL_SQL, (run_id,)).fetchone()
                totals[run_id][1].model = str(row[0]) if row is not None else None
    return [build_summary(run_id, roots[run_id], *totals[run_id]) for run_id in run_ids]


def _spans_of(conn: sqlite3.Connection, run_id: str) -> list[SpanRecord]:
    sql = f"SELECT {_SPAN_COLUMNS} FROM spans WHERE run_id = ? ORDER BY start_ns, rowid"
    return [_span(row) for row in conn.execute(sql, (run_id,))]


# -- one run -----------------------------------------------------------


def resolve_run_id(conn: sqlite3.Connection, ref: str) -> str:
    """The full run id for ``ref``: a run id, a unique prefix of one, or ``last``."""
    ref = ref.strip()
    if not ref:
        raise ConfigError("empty run id", hint="pass a run id, a unique prefix of one, or `last`")
    if ref == LAST:
        row = conn.execute(_NEWEST_SQL, (1,)).fetchone()
        if row is None:
            raise ConfigError("the trace database holds no runs yet", hint="run `agora run` first")
        return str(row[0])
    if conn.execute("SELECT 1 FROM spans WHERE run_id = ? LIMIT 1", (ref,)).fetchone() is not None:
        return ref
    matches = [str(row[0]) for row in conn.execute(_PREFIX_SQL, (ref, ref + "\U0010ffff", len(ref), ref))]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no run matches {ref!r}", hint="`agora trace list` shows the recorded runs")
    shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise ConfigError(f"run id prefix {ref!r} is ambiguous: {shown}", hint="give more characters of the run id")


def load_run(db_path: Path | str, run_id: str) -> RunTrace:
    """Every span and event of one run (``run_id`` may be a unique prefix or ``last``)."""
    with connect_readonly(db_path) as conn:
        full = resolve_run_id(conn, run_id)
        spans = _spans_of(conn, full)
        events = [
            _event(row)
            for row in conn.execute(
                "SELECT id, run_id, span_id, ts_ns, name, attributes FROM events WHERE run_id = ? ORDER BY ts_ns, id",
                (full,),
            )
        ]
    return RunTrace(summarize(full, spans), spans, events)


def format_duration(ns: int | None) -> str:
    """``850µs``, ``12ms``, ``1.25s``, ``2m05s``; ``-`` when unknown."""
    if ns is None:
        return "-"
    if ns < 1_000_000:
        return f"{ns // 1000}µs"
    if ns < 1_000_000_000:
        return f"{ns // 1_000_000}ms"
    seconds = ns / 1e9
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"
