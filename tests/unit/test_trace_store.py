"""Tracer + TraceStore: nesting, concurrency, persistence, WAL, errors, sinks."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agorakit.trace import attributes as attr
from agorakit.trace.store import TraceStore, open_store
from agorakit.trace.tracer import MemorySink, NullSink, Tracer, current_span


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TraceStore]:
    trace_store = TraceStore(tmp_path / "traces.db")
    yield trace_store
    trace_store.close()


def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def spans_by_name(path: Path, run_id: str) -> dict[str, tuple[Any, ...]]:
    found = rows(
        path, "SELECT name, span_id, parent_id, status, end_ns, attributes FROM spans WHERE run_id = ?", (run_id,)
    )
    return {row[0]: row[1:] for row in found}


def test_spans_nest_by_parent_through_the_context_var() -> None:
    sink = MemorySink()
    tracer = Tracer("run1", sink)
    with tracer.span("root") as root:
        assert current_span() is root
        with tracer.span("child") as child, tracer.span("grandchild") as grandchild:
            pass
        with tracer.span("sibling") as sibling:
            pass
    assert current_span() is None
    assert root.parent_id is None
    assert child.parent_id == root.span_id
    assert grandchild.parent_id == child.span_id
    assert sibling.parent_id == root.span_id
    kinds = [record[0] for record in sink.records]
    assert kinds == ["span_start"] * 2 + ["span_start", "span_end", "span_end", "span_start", "span_end", "span_end"]


async def test_concurrent_tasks_each_see_their_own_parent() -> None:
    sink = MemorySink()
    tracer = Tracer("run1", sink)
    parents: dict[str, str | None] = {}

    async def worker(name: str) -> None:
        with tracer.span(f"task {name}") as task_span:
            await asyncio.sleep(0)
            for step in range(3):
                with tracer.span(f"step {name}{step}") as step_span:
                    await asyncio.sleep(0.001)
                    parents[step_span.name] = step_span.parent_id
                    assert step_span.parent_id == task_span.span_id
                    assert current_span() is step_span
            parents[task_span.name] = task_span.parent_id

    with tracer.span("root") as root:
        await asyncio.gather(*(worker(name) for name in "abcd"))

    started = {record[4]: record[2] for record in sink.records if record[0] == "span_start"}
    for name in "abcd":
        assert parents[f"task {name}"] == root.span_id
        for step in range(3):
            assert parents[f"step {name}{step}"] == started[f"task {name}"]
    assert len(started) == 1 + 4 + 12


def test_flush_returns_true_and_every_row_is_stored(store: TraceStore) -> None:
    tracer = Tracer("run1", store)
    with tracer.span("root", {attr.OPERATION: attr.OP_INVOKE_AGENT}) as root:
        root.set(attr.AGENT_NAME, "solver")
        with tracer.span("child"):
            tracer.event("note", {"k": 1})
        tracer.event("other")
    assert tracer.flush() is True
    spans = spans_by_name(store.path, "run1")
    assert set(spans) == {"root", "child"}
    root_id, parent, status, end_ns, attributes = spans["root"]
    assert parent is None and status == "ok" and end_ns is not None
    assert json.loads(attributes) == {attr.OPERATION: attr.OP_INVOKE_AGENT, attr.AGENT_NAME: "solver"}
    assert spans["child"][1] == root_id
    events = rows(store.path, "SELECT span_id, name, attributes FROM events WHERE run_id = 'run1' ORDER BY id")
    # Compact JSON text (pydantic_core's): compared parsed, the layout is not part of the contract.
    assert [(span, name, json.loads(text)) for span, name, text in events] == [
        (spans["child"][0], "note", {"k": 1}),
        (root_id, "other", {}),
    ]
    assert store.write_errors == 0


def test_database_is_in_wal_mode(store: TraceStore) -> None:
    Tracer("run1", store).event("hello")
    assert store.flush()
    assert rows(store.path, "PRAGMA journal_mode") == [("wal",)]


def test_a_span_left_open_is_stored_as_open(store: TraceStore) -> None:
    tracer = Tracer("run1", store)
    root = tracer.start_span("root")
    tracer.start_span("child", parent=root)
    assert store.flush()
    stored = spans_by_name(store.path, "run1")
    assert stored["root"][2:4] == ("open", None)
    assert stored["child"][1] == root.span_id
    assert stored["child"][2:4] == ("open", None)


def test_a_span_ended_in_a_later_batch_is_closed_in_new_and_older_databases(tmp_path: Path) -> None:
    # Databases made before spans were keyed by (run_id, span_id) have span_id as their key: both take
    # a span's end written after its start was committed, and neither mixes up two runs' spans.
    older = tmp_path / "older.db"
    conn = sqlite3.connect(older)
    conn.execute(
        "CREATE TABLE spans (span_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, parent_id TEXT, name TEXT NOT NULL,"
        " start_ns INTEGER NOT NULL, end_ns INTEGER, status TEXT NOT NULL DEFAULT 'open',"
        " attributes TEXT NOT NULL DEFAULT '{}')"
    )
    conn.commit()
    conn.close()
    for path in (tmp_path / "new.db", older):
        store = TraceStore(path)
        try:
            first, second = Tracer("run1", store), Tracer("run2", store)
            slow = first.start_span("slow")
            second.start_span("open")
            assert store.flush()
            slow.set("answer", 42)
            slow.end()
            assert store.flush()
            _, _, status, end_ns, attributes = spans_by_name(path, "run1")["slow"]
            assert (status, json.loads(attributes)) == ("ok", {"answer": 42})
            assert end_ns is not None
            assert spans_by_name(path, "run2")["open"][2:4] == ("open", None)
        finally:
            store.close()
    keyed_by = rows(tmp_path / "new.db", "SELECT name FROM pragma_index_list('spans') WHERE \"unique\" = 1")
    assert [rows(tmp_path / "new.db", "SELECT name FROM pragma_index_info(?)", key) for key in keyed_by] == [
        [("run_id",), ("span_id",)]
    ]


def test_an_exception_inside_a_span_is_recorded_and_reraised(store: TraceStore) -> None:
    tracer = Tracer("run1", store)
    with pytest.raises(ValueError, match="bad input"), tracer.span("failing"):
        raise ValueError("bad input")
    assert store.flush()
    span_id, _, status, end_ns, attributes = spans_by_name(store.path, "run1")["failing"]
    assert status == "error" and end_ns is not None
    stored = json.loads(attributes)
    assert stored[attr.ERROR_TYPE] == "ValueError"
    assert stored[attr.ERROR_MESSAGE] == "bad input"
    events = rows(store.path, "SELECT span_id, name, attributes FROM events")
    assert len(events) == 1
    assert events[0][:2] == (span_id, "exception")
    assert json.loads(events[0][2]) == {"exception.type": "ValueError", "exception.message": "bad input"}


def test_memory_sink_keeps_the_record_layouts() -> None:
    sink = MemorySink()
    tracer = Tracer("run9", sink)
    assert tracer.enabled
    with tracer.span("s", {"a": 1}) as span:
        span.set("b", 2)
        span.event("e", {"c": 3})
    start, event, end = sink.records
    assert start[:5] == ("span_start", "run9", span.span_id, None, "s")
    assert start[6] == {"a": 1}  # a snapshot taken at start
    assert event[0:3] == ("event", "run9", span.span_id) and event[4:] == ("e", {"c": 3})
    assert end[0:3] == ("span_end", "run9", span.span_id)
    assert end[3] >= start[5]
    assert end[4:] == ("ok", {"a": 1, "b": 2})
    assert sink.flush() is True


def test_null_sink_discards_and_disables_tracing() -> None:
    tracer = Tracer("run1")
    assert isinstance(tracer.sink, NullSink)
    assert not tracer.enabled
    with tracer.span("s") as span:
        span.set("k", "v")
        tracer.event("e")
    assert tracer.flush() is True


def test_ten_thousand_events_are_all_stored(store: TraceStore) -> None:
    tracer = Tracer("bulk", store)
    with tracer.span("root"):
        for index in range(10_000):
            tracer.event("tick", {"i": index})
    assert store.flush(timeout=60.0) is True
    assert rows(store.path, "SELECT COUNT(*), COUNT(DISTINCT json_extract(attributes, '$.i')) FROM events") == [
        (10_000, 10_000)
    ]
    assert rows(store.path, "SELECT COUNT(*) FROM spans WHERE status = 'ok'") == [(1,)]


def test_attributes_set_after_end_do_not_change_the_stored_span(store: TraceStore) -> None:
    tracer = Tracer("run1", store)
    with tracer.span("s") as span:
        span.set("k", 1)
    span.set("late", True)
    assert store.flush()
    assert json.loads(spans_by_name(store.path, "run1")["s"][4]) == {"k": 1}


def test_a_record_that_cannot_be_serialised_does_not_stop_the_writer(store: TraceStore) -> None:
    tracer = Tracer("run1", store)
    circular: dict[str, Any] = {}
    circular["self"] = circular
    tracer.event("before")
    tracer.event("bad", circular)
    tracer.event("after")
    assert store.flush(timeout=5.0) is True
    assert store.write_errors == 1
    assert rows(store.path, "SELECT name FROM events ORDER BY id") == [("before",), ("after",)]
    tracer.event("later")
    assert store.flush(timeout=5.0) is True
    assert rows(store.path, "SELECT COUNT(*) FROM events") == [(3,)]


def test_a_reader_sees_committed_rows_while_the_writer_is_open(store: TraceStore) -> None:
    tracer = Tracer("run1", store)
    root = tracer.start_span("root")
    assert store.flush()
    reader = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert list(reader.execute("SELECT status FROM spans")) == [("open",)]
        root.end()
        assert store.flush()
        assert list(reader.execute("SELECT status FROM spans")) == [("ok",)]
    finally:
        reader.close()


def test_writes_after_close_are_dropped(tmp_path: Path) -> None:
    trace_store = TraceStore(tmp_path / "t.db")
    Tracer("run1", trace_store).event("kept")
    trace_store.close()
    Tracer("run1", trace_store).event("dropped")
    assert trace_store.flush(timeout=1.0) is True
    assert rows(trace_store.path, "SELECT name FROM events") == [("kept",)]


def test_open_store_returns_one_writer_per_file(tmp_path: Path) -> None:
    first = open_store(tmp_path / "a.db")
    try:
        assert open_store(str(tmp_path / "a.db")) is first
        first.close()
        second = open_store(tmp_path / "a.db")
        assert second is not first
        second.close()
    finally:
        first.close()


def test_attribute_values_are_stored_in_the_shapes_readers_expect(store: TraceStore) -> None:
    from pydantic import BaseModel

    from agorakit.core.messages import Message, ToolCall

    class Point(BaseModel):
        x: int
        y: int

    reply = Message("assistant", None, [ToolCall("c1", "add", {"a": 1})])
    tracer = Tracer("run1", store)
    tracer.event(
        "values",
        {
            "message": reply,
            "messages": [Message("user", "hi", name="ann")],
            "model": Point(x=1, y=2),
            "tags": {"a"},
            "path": Path("/tmp/x"),
            "big": 2**70,
        },
    )
    assert store.flush(timeout=5.0) is True
    [(raw,)] = rows(store.path, "SELECT attributes FROM events WHERE name = 'values'")
    assert json.loads(raw) == {
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "name": "add", "arguments": {"a": 1}}],
        },
        "messages": [{"role": "user", "content": "hi", "name": "ann"}],
        "model": {"x": 1, "y": 2},
        "tags": ["a"],
        "path": "/tmp/x",
        "big": 2**70,
    }
    assert Message.from_dict(json.loads(raw)["message"]) == reply


def test_the_default_store_follows_the_settings_from_one_run_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agorakit.trace.setup import tracer_for

    for name in ("AGORAKIT_TRACE_DB", "AGORAKIT_TRACE", "AGORAKIT_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    tmp_path = tmp_path.resolve()
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "one"))
    first = tracer_for(None).sink
    assert isinstance(first, TraceStore) and first.path == tmp_path / "one" / "traces.db"
    assert tracer_for(None).sink is first
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "two"))
    second = tracer_for(None).sink
    assert isinstance(second, TraceStore) and second.path == tmp_path / "two" / "traces.db"
    monkeypatch.setenv("AGORAKIT_TRACE_DB", str(tmp_path / "named.db"))
    named = tracer_for(None).sink
    assert isinstance(named, TraceStore) and named.path == tmp_path / "named.db"
    first.close()
    monkeypatch.delenv("AGORAKIT_TRACE_DB")
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "one"))
    reopened = tracer_for(None).sink  # a closed store is not handed out again
    assert isinstance(reopened, TraceStore) and reopened is not first and not reopened._closed
    for store in (second, named, reopened):
        store.close()
