"""Reading runs back: list, load, prefixes, `last`, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from trace_samples import (
    ANSWER,
    DONE_CALLS,
    DONE_EVENTS,
    DONE_RUN,
    DONE_SPANS,
    DONE_STEPS,
    MODEL,
    OPEN_EVENTS,
    OPEN_RUN,
    OPEN_SPANS,
    TASK,
    build_db,
    write_done_run,
)

from agorakit.core.errors import ConfigError
from agorakit.trace import attributes as attr
from agorakit.trace.reader import list_runs, load_run, message_text, preview
from agorakit.trace.store import TraceStore
from agorakit.trace.tracer import Tracer


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "traces.db")


def test_list_runs_newest_first_with_summaries(db: Path) -> None:
    runs = list_runs(db)
    assert [run.run_id for run in runs] == [OPEN_RUN, DONE_RUN]
    unfinished, done = runs

    assert done.name == "invoke_agent solver"
    assert done.agent == "solver"
    assert done.model == MODEL
    assert done.status == "ok"
    assert done.finished and done.ended_ns is not None and done.ended_ns > done.started_ns
    assert done.duration_ns == done.ended_ns - done.started_ns
    assert (done.input_tokens, done.output_tokens, done.cost_usd) == (42, 16, 0.0012)
    assert done.stop_reason == "final_answer"
    assert (done.calls, done.steps) == (DONE_CALLS, DONE_STEPS)
    assert done.task == TASK

    assert unfinished.agent == "writer"
    assert unfinished.status == "open"
    assert unfinished.ended_ns is None and unfinished.duration_ns is None and not unfinished.finished
    assert (unfinished.calls, unfinished.steps) == (1, 1)
    assert (unfinished.input_tokens, unfinished.output_tokens, unfinished.cost_usd) == (0, 0, 0.0)
    assert unfinished.stop_reason is None and unfinished.task is None


def test_list_runs_limit(db: Path) -> None:
    assert [run.run_id for run in list_runs(db, limit=1)] == [OPEN_RUN]
    assert list_runs(db, limit=0) == []


def test_totals_fall_back_to_the_chat_spans(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    tracer = Tracer("r1", store)
    with tracer.span("invoke_agent a", {attr.OPERATION: attr.OP_INVOKE_AGENT}):
        for tokens in (3, 4):
            with tracer.span("chat m", {attr.OPERATION: attr.OP_CHAT, attr.REQUEST_MODEL: "m"}) as chat:
                chat.set(attr.INPUT_TOKENS, tokens)
                chat.set(attr.OUTPUT_TOKENS, 1)
                chat.set(attr.COST_USD, 0.5)
    store.close()
    (run,) = list_runs(tmp_path / "t.db")
    assert (run.input_tokens, run.output_tokens, run.cost_usd, run.calls, run.model) == (7, 2, 1.0, 2, "m")


def test_load_run_returns_spans_events_and_tree(db: Path) -> None:
    trace = load_run(db, DONE_RUN)
    assert trace.run_id == DONE_RUN
    assert len(trace.spans) == DONE_SPANS
    assert len(trace.events) == DONE_EVENTS
    assert [span.start_ns for span in trace.spans] == sorted(span.start_ns for span in trace.spans)
    assert [event.name for event in trace.events] == [
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "exception",
        "retry",
    ]

    (root,) = trace.tree()
    assert root.span.name == "invoke_agent solver"
    assert root.span.attributes["agorakit.output"] == ANSWER
    assert [event.name for event in root.events] == ["gen_ai.user.message"]
    assert [child.span.name for child in root.children] == ["agent_turn 1", "agent_turn 2"]
    turn1, turn2 = root.children
    assert [child.span.name for child in turn1.children] == [f"chat {MODEL}", "execute_tool multiply"]
    assert [child.span.status for child in turn2.children] == ["error", "ok"]
    failed = turn2.children[0]
    assert failed.span.attributes[attr.ERROR_TYPE] == "ModelTimeout"
    assert [event.name for event in failed.events] == ["exception"]
    assert [event.name for event in turn2.events] == ["retry"]
    assert sum(1 for _ in root.walk()) == DONE_SPANS
    assert trace.run_events() == []


def test_open_spans_are_loaded(db: Path) -> None:
    trace = load_run(db, OPEN_RUN)
    assert len(trace.spans) == OPEN_SPANS
    assert len(trace.events) == OPEN_EVENTS
    assert all(span.status == "open" and span.end_ns is None and span.duration_ns is None for span in trace.spans)
    (root,) = trace.tree()
    chat = root.children[0].children[0]
    assert chat.span.operation == attr.OP_CHAT
    assert [event.name for event in chat.events] == ["gen_ai.user.message"]


def test_run_id_prefix_and_last(db: Path) -> None:
    assert load_run(db, "0190aaaa1").run_id == DONE_RUN
    assert load_run(db, DONE_RUN[:-1]).run_id == DONE_RUN
    assert load_run(db, "last").run_id == OPEN_RUN
    assert load_run(db, f"  {OPEN_RUN}  ").run_id == OPEN_RUN


def test_ambiguous_prefix_names_the_candidates(db: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_run(db, "0190aaaa")
    message = str(caught.value)
    assert "ambiguous" in message
    assert DONE_RUN in message and OPEN_RUN in message


def test_unknown_and_empty_run_ids(db: Path) -> None:
    with pytest.raises(ConfigError, match="no run matches 'ffff'") as caught:
        load_run(db, "ffff")
    assert "agora trace list" in caught.value.hint
    with pytest.raises(ConfigError, match="empty run id"):
        load_run(db, " ")


def test_prefix_with_like_wildcards_matches_literally(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    write_done_run(store, run_id="ab_cd")
    write_done_run(store, run_id="abXcd")
    store.close()
    assert load_run(tmp_path / "t.db", "ab_").run_id == "ab_cd"
    with pytest.raises(ConfigError, match="no run matches"):
        load_run(tmp_path / "t.db", "ab%")


def test_missing_database_is_a_config_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "traces.db"
    for call in (lambda: list_runs(missing), lambda: load_run(missing, "last")):
        with pytest.raises(ConfigError, match="no trace database") as caught:
            call()
        assert "agora run" in caught.value.hint
    assert not missing.exists()
    assert not missing.parent.exists()


def test_empty_database_has_no_runs(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    store.close()
    assert list_runs(tmp_path / "t.db") == []
    with pytest.raises(ConfigError, match="no runs yet"):
        load_run(tmp_path / "t.db", "last")


def test_a_file_that_is_not_a_trace_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite at all, just text " * 50)
    with pytest.raises(ConfigError, match="cannot read trace database"):
        list_runs(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    with pytest.raises(ConfigError, match="cannot read trace database"):
        load_run(other, "last")


def test_reading_while_a_writer_is_active(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    store = TraceStore(path)
    try:
        tracer = Tracer("live", store)
        root = tracer.start_span("invoke_agent live", {attr.OPERATION: attr.OP_INVOKE_AGENT})
        assert store.flush()
        (run,) = list_runs(path)
        assert run.status == "open"
        root.set(attr.STOP_REASON, "final_answer")
        root.end()
        assert store.flush()
        assert load_run(path, "live").summary.stop_reason == "final_answer"
    finally:
        store.close()


def test_preview_makes_one_short_line() -> None:
    assert preview(None) is None
    assert preview("a\n  b\tc") == "a b c"
    assert preview("x" * 100, limit=10) == "x" * 9 + "…"


def test_message_text_reads_the_common_layouts() -> None:
    assert message_text({"agorakit.message": {"role": "user", "content": "hi"}}) == "hi"
    calls = [{"id": "c1", "name": "add", "arguments": {"a": 1}}, {"id": "c2", "name": "neg", "arguments": {}}]
    assert message_text({"agorakit.message": {"role": "assistant", "content": None, "tool_calls": calls}}) == (
        '→ add({"a": 1}), neg({})'
    )
    assert message_text({"agorakit.message": {"content": "thinking", "tool_calls": calls[:1]}}) == (
        'thinking → add({"a": 1})'
    )
    assert message_text({"content": "plain"}) == "plain"
    assert message_text({"body": ["a", 1]}) == '["a", 1]'
    assert message_text({"other": 1}) is None


def test_list_and_load_agree_on_every_summary(db: Path, tmp_path: Path) -> None:
    for run in list_runs(db):
        assert load_run(db, run.run_id).summary == run


def test_runs_with_several_roots_or_a_lost_root(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = TraceStore(path)
    tracer = Tracer("multi", store)
    for name in ("a", "b"):
        with tracer.span(f"invoke_agent {name}", {attr.OPERATION: attr.OP_INVOKE_AGENT}) as root:
            with tracer.span("chat m", {attr.OPERATION: attr.OP_CHAT, attr.REQUEST_MODEL: "m"}) as chat:
                chat.set(attr.INPUT_TOKENS, 5)
            root.set(attr.INPUT_TOKENS, 5)
    # A run whose root record was lost: its only span points at a parent that is not stored.
    store.write(("span_start", "orphan", "s1", "gone", "chat m", 10, {attr.OPERATION: attr.OP_CHAT}))
    store.write(("event", "orphan", None, 11, "budget_exceeded", {}))
    store.close()
    runs = {run.run_id: run for run in list_runs(path)}
    assert (runs["multi"].name, runs["multi"].input_tokens, runs["multi"].calls) == ("invoke_agent a", 10, 2)
    assert runs["multi"].model == "m" and runs["multi"].status == "ok" and runs["multi"].finished
    assert (runs["orphan"].name, runs["orphan"].status, runs["orphan"].model) == ("chat m", "open", None)
    for run_id, run in runs.items():
        assert load_run(path, run_id).summary == run
    orphan = load_run(path, "orphan")
    assert [node.span.span_id for node in orphan.tree()] == ["s1"]
    assert [event.name for event in orphan.run_events()] == ["budget_exceeded"]
