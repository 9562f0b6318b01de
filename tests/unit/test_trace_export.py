"""JSONL export: a run written through Tracer + TraceStore comes back out exactly."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from trace_samples import (
    ANSWER,
    DONE_EVENTS,
    DONE_RUN,
    DONE_SPANS,
    OPEN_EVENTS,
    OPEN_RUN,
    OPEN_SPANS,
    TASK,
    TOOL_ARGS,
    build_db,
)

from agorakit.trace import attributes as attr
from agorakit.trace.export import export_jsonl
from agorakit.trace.reader import EventRecord, RunSummary, RunTrace, SpanRecord, load_run

SPAN_FIELDS = [
    "type",
    "run_id",
    "span_id",
    "parent_id",
    "name",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "status",
    "attributes",
]
EVENT_FIELDS = ["type", "run_id", "span_id", "name", "time_unix_nano", "attributes"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "traces.db")


def exported(trace: RunTrace) -> list[dict[str, Any]]:
    out = io.StringIO()
    count = export_jsonl(trace, out)
    text = out.getvalue()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == count
    return [json.loads(line) for line in lines]


def time_of(record: dict[str, Any]) -> int:
    value = record["start_time_unix_nano"] if record["type"] == "span" else record["time_unix_nano"]
    assert isinstance(value, int)
    return value


def test_round_trip_counts_fields_and_values(db: Path) -> None:
    trace = load_run(db, DONE_RUN)
    records = exported(trace)
    spans = [r for r in records if r["type"] == "span"]
    events = [r for r in records if r["type"] == "event"]
    assert (len(spans), len(events), len(records)) == (DONE_SPANS, DONE_EVENTS, DONE_SPANS + DONE_EVENTS)
    assert all(list(r) == SPAN_FIELDS for r in spans)
    assert all(list(r) == EVENT_FIELDS for r in events)
    assert {r["run_id"] for r in records} == {DONE_RUN}

    times = [time_of(r) for r in records]
    assert times == sorted(times)

    (root,) = [r for r in spans if r["parent_id"] is None]
    assert records[0] == root
    assert root["name"] == "invoke_agent solver"
    assert root["status"] == "ok"
    assert root["end_time_unix_nano"] >= root["start_time_unix_nano"]
    assert root["attributes"][attr.INPUT_TOKENS] == 42
    assert root["attributes"][attr.OUTPUT_TOKENS] == 16
    assert root["attributes"][attr.COST_USD] == 0.0012
    assert root["attributes"]["agorakit.output"] == ANSWER

    ids = {r["span_id"] for r in spans}
    assert all(r["parent_id"] in ids for r in spans if r is not root)
    assert all(r["span_id"] in ids for r in events)

    (tool,) = [r for r in spans if r["name"] == "execute_tool multiply"]
    assert tool["attributes"][attr.TOOL_CALL_ARGUMENTS] == TOOL_ARGS
    assert tool["attributes"][attr.TOOL_CALL_RESULT] == "42"
    assert tool["attributes"][attr.TOOL_CALL_ID] == "call_1"

    chats = [r for r in spans if r["attributes"].get(attr.OPERATION) == attr.OP_CHAT]
    assert [c["status"] for c in chats] == ["ok", "error", "ok"]
    assert [c["attributes"].get(attr.INPUT_TOKENS) for c in chats] == [12, None, 30]
    assert chats[0]["attributes"][attr.FINISH_REASONS] == ["tool_calls"]
    assert chats[0]["attributes"][attr.OUTPUT_MESSAGES] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "name": "multiply", "arguments": {"a": 6, "b": 7}}],
        "name": "solver",
    }
    (user_message,) = [r for r in events if r["name"] == "gen_ai.user.message"]
    assert user_message["attributes"] == {"agorakit.message": {"role": "user", "content": TASK}}
    assert user_message["span_id"] == root["span_id"]
    assert chats[1]["attributes"][attr.ERROR_TYPE] == "ModelTimeout"

    (exception,) = [r for r in events if r["name"] == "exception"]
    assert exception["span_id"] == chats[1]["span_id"]
    assert exception["attributes"] == {
        "exception.type": "ModelTimeout",
        "exception.message": "no answer after 30s (the model did not answer in time; raise the timeout or use a "
        "faster model)",
    }
    (retry,) = [r for r in events if r["name"] == "retry"]
    assert retry["attributes"] == {attr.ATTEMPT: 2, "agorakit.retry.delay_s": 0.5}


def test_open_spans_export_with_null_end(db: Path) -> None:
    records = exported(load_run(db, OPEN_RUN))
    spans = [r for r in records if r["type"] == "span"]
    assert len(spans) == OPEN_SPANS
    assert len(records) == OPEN_SPANS + OPEN_EVENTS
    assert all(r["status"] == "open" and r["end_time_unix_nano"] is None for r in spans)


def test_equal_times_put_the_span_before_its_event() -> None:
    summary = RunSummary("r", "root", None, None, 5, 9, "ok", 0, 0, 0.0, None, 0, 0, None)
    spans = [SpanRecord("s2", "r", "s1", "child", 7, 8, "ok", {}), SpanRecord("s1", "r", None, "root", 5, 9, "ok", {})]
    events = [EventRecord(1, "r", "s1", 5, "at-start", {}), EventRecord(2, "r", "s2", 6, "between", {"x": "é"})]
    out = io.StringIO()
    assert export_jsonl(RunTrace(summary, spans, events), out) == 4
    assert "é" in out.getvalue()
    assert [json.loads(line)["name"] for line in out.getvalue().splitlines()] == [
        "root",
        "at-start",
        "between",
        "child",
    ]
