"""`agora trace list/show/export` on databases written through the real Tracer + TraceStore."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from trace_samples import DONE_EVENTS, DONE_RUN, DONE_SPANS, LONG_RESULT, MODEL, OPEN_RUN, TASK, build_db
from typer.testing import CliRunner, Result

from agorakit.cli.render import format_cost, format_duration, run_tree, truncate
from agorakit.cli.trace_cmd import app
from agorakit.core.errors import ConfigError
from agorakit.trace import attributes as attr
from agorakit.trace.reader import load_run
from agorakit.trace.store import TraceStore
from agorakit.trace.tracer import Tracer

WIDE = {"COLUMNS": "220", "NO_COLOR": "1", "TERM": "dumb"}
FIXED_RUN = "0190bbbb0000aabbccddeeff00"
T0 = 1_700_000_000_000_000_000


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "traces.db")


@pytest.fixture
def fixed_db(tmp_path: Path) -> Path:
    """A run with known timestamps (raw records through the store) plus a Tracer-written long tool result."""
    path = tmp_path / "fixed.db"
    store = TraceStore(path)
    root = {attr.OPERATION: attr.OP_INVOKE_AGENT, attr.AGENT_NAME: "timer", attr.REQUEST_MODEL: MODEL}
    chat = {attr.OPERATION: attr.OP_CHAT, attr.INPUT_TOKENS: 100, attr.OUTPUT_TOKENS: 20}
    tool = {
        attr.OPERATION: attr.OP_EXECUTE_TOOL,
        attr.TOOL_NAME: "dump",
        attr.TOOL_CALL_ARGUMENTS: {"what": "all"},
        attr.TOOL_CALL_RESULT: LONG_RESULT,
    }
    for record in (
        ("span_start", FIXED_RUN, "r0", None, "invoke_agent timer", T0, root),
        ("span_start", FIXED_RUN, "c1", "r0", f"chat {MODEL}", T0 + 1_000_000, chat),
        ("span_end", FIXED_RUN, "c1", T0 + 251_000_000, "ok", chat),
        ("span_start", FIXED_RUN, "t1", "r0", "execute_tool dump", T0 + 300_000_000, tool),
        ("span_end", FIXED_RUN, "t1", T0 + 300_850_000, "ok", tool),
        ("span_end", FIXED_RUN, "r0", T0 + 1_500_000_000, "ok", {**root, attr.STOP_REASON: "final_answer"}),
    ):
        store.write(record)
    store.close()
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=WIDE)


def test_list_shows_a_table_of_runs(db: Path) -> None:
    result = invoke("list", "--db", str(db))
    assert result.exit_code == 0, result.output
    out = result.output
    assert DONE_RUN in out and OPEN_RUN in out
    assert out.index(OPEN_RUN) < out.index(DONE_RUN)  # newest first
    for header in ("run id", "started", "agent", "model", "status", "steps/calls", "tokens in/out", "duration"):
        assert header in out
    assert "solver" in out and "writer" in out and MODEL in out
    assert "2/3" in out  # steps/calls of the finished run
    assert "42/16" in out
    assert "(unfinished)" in out
    assert "unfinished" in out.split(OPEN_RUN)[1].splitlines()[0]
    assert TASK in out


def test_list_limit(db: Path) -> None:
    result = invoke("list", "--limit", "1", "--db", str(db))
    assert result.exit_code == 0
    assert OPEN_RUN in result.output and DONE_RUN not in result.output


def test_list_on_an_empty_database(tmp_path: Path) -> None:
    TraceStore(tmp_path / "e.db").close()
    result = invoke("list", "--db", str(tmp_path / "e.db"))
    assert result.exit_code == 0
    assert "no runs recorded yet" in result.output


def test_show_prints_the_span_tree(db: Path) -> None:
    result = invoke("show", DONE_RUN[:10] + "1", "--db", str(db))
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"run {DONE_RUN}" in out
    assert "agent=solver" in out and f"model={MODEL}" in out
    assert "[42→16 tok]" in out and "cost=$0.0012" in out and "stop=final_answer" in out and "calls=3" in out
    for name in ("invoke_agent solver", "agent_turn 1", "agent_turn 2", f"chat {MODEL}", "execute_tool multiply"):
        assert name in out
    assert "[12→7 tok]" in out and "[30→9 tok]" in out
    assert '{"a": 6, "b": 7} → 42' in out
    assert "error  ModelTimeout: no answer after 30s" in out
    assert out.count("no answer after 30s") == 1  # the exception event is not repeated
    assert "attempt 2" in out
    assert "• retry" in out and "agorakit.retry.delay_s=0.5" in out
    turn2 = out[out.index("agent_turn 2") :]
    assert turn2.index("ModelTimeout") < turn2.index("• retry") < turn2.index("attempt 2")  # time order
    assert TASK not in out and "✉" not in out  # no content by default
    lines = out.splitlines()
    assert lines.index(next(line for line in lines if "agent_turn 1" in line)) < lines.index(
        next(line for line in lines if "execute_tool multiply" in line)
    )


def test_show_with_content_adds_task_answer_and_messages(db: Path) -> None:
    result = invoke("show", DONE_RUN, "--db", str(db), "--content")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"task: {TASK}" in out
    assert "answer: The answer is 42." in out
    assert f"✉ user: {TASK}" in out
    assert '✉ assistant (solver): → multiply({"a": 6, "b": 7})' in out


def test_show_an_unfinished_run(db: Path) -> None:
    result = invoke("show", "last", "--db", str(db))
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"run {OPEN_RUN}" in out
    assert out.count("(unfinished)") == 4  # the run line and its three open spans
    assert f"chat {MODEL}  (unfinished)" in out


def test_show_durations_and_truncated_tool_results(fixed_db: Path) -> None:
    result = invoke("show", "last", "--db", str(fixed_db))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1.50s  [100→20 tok]" in out  # root totals fall back to the chat spans
    assert f"chat {MODEL}  250ms  [100→20 tok]  ok" in out
    assert "execute_tool dump  850µs  ok" in out
    assert '{"what": "all"} → ' + "x" * 119 + "…" in out
    assert "x" * 121 not in out
    assert "stop=final_answer" in out


def test_show_marks_queued_calls_and_each_agents_share_of_the_model(tmp_path: Path) -> None:
    path = tmp_path / "queued.db"
    store = TraceStore(path)
    run = "0190cccc0000aabbccddeeff00"
    root = {attr.OPERATION: "invoke_team", attr.REQUEST_MODEL: MODEL}
    calls = [  # (span, agent, start ms, end ms, queued s, cached tokens)
        ("c1", "ann", 0, 300, 0.0, 0),
        ("c2", "bob", 0, 500, 0.2, 80),
        ("c3", "ann", 300, 400, 0.0, 90),
    ]
    store.write(("span_start", run, "r0", None, "invoke_team debate", T0, root))
    for span, agent, start, end, queued, cached in calls:
        chat = {attr.OPERATION: attr.OP_CHAT, attr.AGENT_NAME: agent, attr.INPUT_TOKENS: 100,
                attr.OUTPUT_TOKENS: 10, attr.QUEUE_WAIT_S: queued}  # fmt: skip
        if cached:
            chat[attr.CACHED_INPUT_TOKENS] = cached
        store.write(("span_start", run, span, "r0", f"chat {MODEL}", T0 + start * 1_000_000, chat))
        store.write(("span_end", run, span, T0 + end * 1_000_000, "ok", chat))
    store.write(("span_end", run, "r0", T0 + 600_000_000, "ok", root))
    store.close()
    out = invoke("show", "last", "--db", str(path)).output
    assert f"chat {MODEL}  500ms  [100→10 tok]  80 from cache  queued 200ms  ok" in out
    assert f"chat {MODEL}  300ms  [100→10 tok]  ok" in out  # not queued: nothing said
    # In flight: ann 300 + 100 ms, bob 500 - 200 ms queued.
    assert "model time by agent: ann 400ms (57%) · bob 300ms (43%) queued 200ms" in out


def test_export_to_stdout_and_to_a_file(db: Path, tmp_path: Path) -> None:
    result = invoke("export", DONE_RUN, "--db", str(db))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == DONE_SPANS + DONE_EVENTS
    assert records[0]["type"] == "span" and records[0]["parent_id"] is None

    target = tmp_path / "run.jsonl"
    result = invoke("export", "last", "--db", str(db), "--output", str(target))
    assert result.exit_code == 0, result.output
    assert f"to {target}" in result.output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["run_id"] for line in lines} == {OPEN_RUN}


def test_errors_are_config_errors(db: Path, tmp_path: Path) -> None:
    missing = invoke("list", "--db", str(tmp_path / "missing.db"))
    assert missing.exit_code != 0
    assert isinstance(missing.exception, ConfigError)
    assert not (tmp_path / "missing.db").exists()

    ambiguous = invoke("show", "0190aaaa", "--db", str(db))
    assert isinstance(ambiguous.exception, ConfigError)
    assert "ambiguous" in str(ambiguous.exception)

    unknown = invoke("export", "zzz", "--db", str(db))
    assert isinstance(unknown.exception, ConfigError)


def test_db_defaults_to_the_settings_path(db: Path) -> None:
    result = CliRunner().invoke(app, ["show", "last"], env={**WIDE, "AGORAKIT_TRACE_DB": str(db)})
    assert result.exit_code == 0, result.output
    assert f"run {OPEN_RUN}" in result.output


def test_render_functions_are_pure(db: Path) -> None:
    trace = load_run(db, DONE_RUN)
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(run_tree(trace, content=False))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "execute_tool multiply" in text
    assert format_duration(None) == "-"
    assert (format_cost(0.0), format_cost(0.0012), format_cost(1.5)) == ("$0", "$0.0012", "$1.5")
    assert format_duration(999) == "0µs"
    assert format_duration(61_000_000_000) == "1m01s"
    assert truncate("a  b\nc", 10) == "a b c"


def test_tracer_written_error_span_renders_red(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    tracer = Tracer("red", store)
    with pytest.raises(RuntimeError), tracer.span("invoke_agent x"):
        raise RuntimeError("kaboom")
    store.close()
    console = Console(record=True, width=200, file=io.StringIO(), color_system="truecolor")
    console.print(run_tree(load_run(tmp_path / "t.db", "red")))
    assert "RuntimeError: kaboom" in console.export_text(clear=False)
    styled = console.export_text(styles=True)
    assert "\x1b[31mRuntimeError: kaboom" in styled or "\x1b[1;31m" in styled


def test_stored_text_is_never_read_as_markup(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    tracer = Tracer("markup", store)
    attrs = {
        attr.OPERATION: attr.OP_INVOKE_AGENT,
        attr.AGENT_NAME: "[bold]x[/bold]",
        "agorakit.input": "see [/] and [red]",
    }
    with tracer.span("invoke_agent [x]", attrs):
        tracer.event("gen_ai.user.message", {"content": "[link=http://a]hi[/link]"})
    store.close()
    listed = invoke("list", "--db", str(tmp_path / "t.db"))
    assert listed.exit_code == 0, listed.output
    assert "[bold]x[/bold]" in listed.output and "see [/] and [red]" in listed.output
    shown = invoke("show", "markup", "--content", "--db", str(tmp_path / "t.db"))
    assert shown.exit_code == 0, shown.output
    assert "invoke_agent [x]" in shown.output and "[link=http://a]hi[/link]" in shown.output


def test_policy_events_read_as_words() -> None:
    from agorakit.cli.render import event_line
    from agorakit.trace.records import EventRecord

    def event(name: str, **attributes: object) -> str:
        return event_line(EventRecord(1, "r", "s", 0, name, dict(attributes))).plain

    denied = event(
        "policy.decision",
        **{
            "gen_ai.tool.name": "send_money",
            "agorakit.policy.allowed": False,
            "agorakit.policy.reason": "tool not in policy",
            "agorakit.policy.fallback": "stop",
        },
    )
    assert denied == "⚖ policy: deny send_money (tool not in policy)  fallback=stop"
    allowed = event("policy.decision", **{"gen_ai.tool.name": "calc", "agorakit.policy.allowed": True})
    assert allowed == "⚖ policy: allow calc"
    approval = event("policy.approval", **{"gen_ai.tool.name": "pay", "agorakit.policy.approved": True})
    assert approval == "⚖ policy: pay approved by a human"
    assert event("policy.none") == "⚖ policy: none configured, every tool call is allowed"
