"""The viewer's queries on the trace database: one page of runs, filtered inside SQLite.

Filters apply to each run's root span (its agent, method, status, start time,
task, answer), so a page costs one pass over the root spans and then work
proportional to the page, never to the whole database. The database is opened
read-only; WAL mode lets the viewer read while runs are being written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson

from agorakit.server.viewer_tree import METHOD
from agorakit.trace import attributes as attr
from agorakit.trace.reader import connect_readonly
from agorakit.trace.records import INPUT, OUTPUT, RunSummary, SpanRecord, UsageTotals, build_summary

STATUSES = ("ok", "error", "open", "cancelled")
PAGE_SIZE = 50
_SPAN_COLUMNS = "span_id, run_id, parent_id, name, start_ns, end_ns, status, attributes"


def _field(key: str) -> str:
    """A root attribute, read by SQLite (NULL when the attributes are not JSON)."""
    return f"CASE WHEN json_valid(attributes) THEN json_extract(attributes, '$.\"{key}\"') END"


_SEARCHED = ("run_id", "name", *(_field(key) for key in (INPUT, OUTPUT, attr.AGENT_NAME, METHOD, attr.REQUEST_MODEL)))


@dataclass(frozen=True, slots=True)
class RunFilter:
    """What the runs list asks for; empty fields do not filter."""

    text: str = ""
    agent: str = ""
    method: str = ""
    status: str = ""
    since: date | None = None  # first day shown (local time)
    until: date | None = None  # last day shown, inclusive
    page: int = 1

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition on root spans, and its parameters."""
        clauses = ["parent_id IS NULL"]
        params: list[Any] = []
        if self.agent:
            clauses.append(f"{_field(attr.AGENT_NAME)} = ?")
            params.append(self.agent)
        if self.method:
            clauses.append(f"{_field(METHOD)} = ?")
            params.append(self.method)
        if self.status:
            clauses.append("status = ?")
            params.append(self.status)
        if self.since is not None:
            clauses.append("start_ns >= ?")
            params.append(_day_start_ns(self.since))
        if self.until is not None:
            clauses.append("start_ns < ?")
            params.append(_day_start_ns(self.until + timedelta(days=1)))
        if self.text.strip():
            pattern = "%" + _escape_like(self.text.strip()) + "%"
            clauses.append("(" + " OR ".join(f"{column} LIKE ? ESCAPE '\\'" for column in _SEARCHED) + ")")
            params.extend([pattern] * len(_SEARCHED))
        return " AND ".join(clauses), params


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[RunSummary]
    page: int
    has_next: bool


def _day_start_ns(day: date) -> int:
    return int(datetime.combine(day, time.min).astimezone().timestamp()) * 1_000_000_000


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_runs(path: Path, where: RunFilter, page_size: int = PAGE_SIZE) -> RunPage:
    """The runs ``where`` selects, newest first: page ``where.page`` of ``page_size``."""
    condition, params = where.where()
    page = max(where.page, 1)
    sql = (
        f"SELECT run_id, MIN(start_ns) AS started FROM spans WHERE {condition}"
        " GROUP BY run_id ORDER BY started DESC, run_id DESC LIMIT ? OFFSET ?"
    )
    with connect_readonly(path) as conn:
        run_ids = [str(row[0]) for row in conn.execute(sql, [*params, page_size + 1, (page - 1) * page_size])]
        shown = run_ids[:page_size]
        runs = summaries(conn, shown)
    return RunPage(runs, page, has_next=len(run_ids) > page_size)


def _chat_total(key: str, kind: str) -> str:
    return f"TOTAL(CASE WHEN op = '{attr.OP_CHAT}' THEN CAST({_field(key)} AS {kind}) END)"


_TOTALS = f"""
SELECT run_id, MIN(start_ns), TOTAL(op = '{attr.OP_CHAT}'), TOTAL(op = '{attr.OP_TURN}'),
       {_chat_total(attr.INPUT_TOKENS, "INTEGER")}, {_chat_total(attr.OUTPUT_TOKENS, "INTEGER")},
       {_chat_total(attr.COST_USD, "REAL")},
       MAX(CASE WHEN op = '{attr.OP_CHAT}' THEN {_field(attr.REQUEST_MODEL)} END)
FROM (SELECT run_id, start_ns, attributes, {_field(attr.OPERATION)} AS op FROM spans WHERE run_id IN ({{marks}}))
GROUP BY run_id
"""


def summaries(conn: sqlite3.Connection, run_ids: Sequence[str]) -> list[RunSummary]:
    """Each run's summary (as ``agora trace list`` shows it), in the order of ``run_ids``."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    totals: dict[str, tuple[int, UsageTotals]] = {}
    for run_id, started, calls, steps, tokens_in, tokens_out, cost, model in conn.execute(
        _TOTALS.format(marks=marks), list(run_ids)
    ):
        usage = UsageTotals(int(calls), int(steps), int(tokens_in), int(tokens_out), float(cost), model)
        totals[run_id] = (int(started), usage)
    roots: dict[str, list[SpanRecord]] = {run_id: [] for run_id in run_ids}
    sql = f"SELECT {_SPAN_COLUMNS} FROM spans WHERE run_id IN ({marks}) AND parent_id IS NULL ORDER BY start_ns"
    for row in conn.execute(sql, list(run_ids)):
        roots[row[1]].append(_span(row))
    return [build_summary(run_id, roots[run_id], *totals[run_id]) for run_id in run_ids if run_id in totals]


def _span(row: Sequence[Any]) -> SpanRecord:
    span_id, run_id, parent_id, name, start_ns, end_ns, status, raw = row
    try:
        attributes = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        attributes = {}
    return SpanRecord(span_id, run_id, parent_id, name, start_ns, end_ns, status, attributes)


def facets(path: Path) -> tuple[list[str], list[str]]:
    """The agent names and method names the runs' root spans hold, sorted: the filters' choices."""
    sql = f"SELECT DISTINCT {_field(attr.AGENT_NAME)}, {_field(METHOD)} FROM spans WHERE parent_id IS NULL LIMIT 10000"
    agents: set[str] = set()
    methods: set[str] = set()
    with connect_readonly(path) as conn:
        for agent, method in conn.execute(sql):
            if agent is not None:
                agents.add(str(agent))
            if method is not None:
                methods.add(str(method))
    return sorted(agents), sorted(methods)


def run_version(path: Path, run_id: str) -> str:
    """Changes whenever the run gains a span, ends one or gains an event: what live updates poll."""
    with connect_readonly(path) as conn:
        spans, ended = conn.execute("SELECT COUNT(*), COUNT(end_ns) FROM spans WHERE run_id = ?", (run_id,)).fetchone()
        (events,) = conn.execute("SELECT COUNT(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()
    return f"{spans}.{ended}.{events}"
