"""Durable agent runs on the scripted model: the journal, resume, and side effects.

A "crash" here is an exception that ends the run in the middle (a model error,
or a tool raising ``KeyboardInterrupt`` after its effect); the kill -9 tests
with real processes are in tests/integration/test_durable_kill.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agorakit import Agent, RunContext, tool
from agorakit.core import errors
from agorakit.core.messages import ToolCall
from agorakit.kernel.journal import RunJournal
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import ScriptedModel
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import MemorySink

LINES = 4


@pytest.fixture(autouse=True)
def journal_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGORAKIT_JOURNAL_DB", str(tmp_path / "journal.db"))
    return tmp_path / "journal.db"


def writer(request: ModelRequest) -> Any:
    """Asks for ``LINES`` appends, one per step, then answers with how many results it saw."""
    done = sum(1 for m in request.messages if m.role == "tool")
    if done < LINES:
        return ToolCall(f"call-{done}", "append", {"text": f"line {done}"})
    return f"wrote {done} lines"


class Counting(ScriptedModel):
    """A scripted model that fails with a non-retryable error on its ``fail_at``-th call (1-based)."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__(writer)
        self.fail_at = fail_at

    async def complete(self, request: ModelRequest) -> Any:
        if self.fail_at is not None and len(self.requests) + 1 == self.fail_at:
            self.requests.append(request)
            raise errors.ModelRequestError("the machine went away")
        return await super().complete(request)


def appender(lines: list[str], *, crash_on: int | None = None, idempotent: Any = False) -> Any:
    keys: list[str | None] = []

    @tool(name="append", idempotent=idempotent)
    def append(ctx: RunContext[None], text: str) -> str:
        """Append a line."""
        keys.append(ctx.idempotency_key)
        if idempotent == "key" and any(line.endswith(str(ctx.idempotency_key)) for line in lines):
            return "already written"
        lines.append(f"{text} {ctx.idempotency_key}")
        if crash_on is not None and len(lines) == crash_on:
            raise KeyboardInterrupt  # the process dies after the effect, before its result is recorded
        return "ok"

    append.keys = keys  # type: ignore[attr-defined]
    return append


def agent_with(model: ScriptedModel, tool_: Any, **settings: Any) -> Agent[None, str]:
    return Agent("writer", model, tools=[tool_], max_steps=LINES + 2, trace=False, **settings)


async def test_a_run_that_died_after_some_calls_resumes_without_asking_the_model_again() -> None:
    lines: list[str] = []
    first = Counting(fail_at=3)  # two completions recorded, the third call fails
    with pytest.raises(errors.ModelRequestError):
        await agent_with(first, appender(lines)).run("write", durability="sync", run_id="run-1")
    assert len(lines) == 2

    second = Counting()
    result = await agent_with(second, appender(lines)).resume("run-1")

    assert result.output == f"wrote {LINES} lines"
    assert [line.split()[1] for line in lines] == ["0", "1", "2", "3"]
    # The resumed process sent only what had no record: calls 3..5 of the 5 an uninterrupted run makes.
    assert len(second.requests) == LINES + 1 - 2
    assert result.usage.calls == LINES + 1
    assert result.steps == LINES + 1


async def test_the_resumed_result_equals_an_uninterrupted_run() -> None:
    plain_lines: list[str] = []
    plain = await agent_with(Counting(), appender(plain_lines)).run("write", durability="exit", run_id="plain")
    lines: list[str] = []
    with pytest.raises(errors.ModelRequestError):
        await agent_with(Counting(fail_at=4), appender(lines)).run("write", durability="async", run_id="cut")
    resumed = await agent_with(Counting(), appender(lines)).resume("cut")

    assert resumed.output == plain.output
    assert [m.to_dict() for m in resumed.messages] == [m.to_dict() for m in plain.messages]
    assert resumed.usage.input_tokens == plain.usage.input_tokens
    assert resumed.usage.output_tokens == plain.usage.output_tokens
    assert resumed.usage.calls == plain.usage.calls


async def test_a_side_effect_that_started_and_has_no_result_is_not_run_again_without_confirmation() -> None:
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        await agent_with(Counting(), appender(lines, crash_on=2)).run("write", durability="sync", run_id="r")
    assert len(lines) == 2

    model = Counting()
    stopped = await agent_with(model, appender(lines)).resume("r")
    assert stopped.stop_reason == "needs_confirmation"
    assert isinstance(stopped.error, errors.NeedsConfirmation)
    assert stopped.error.call_id == "call-1" and stopped.error.tool == "append"
    assert 'append({"text": "line 1"})' in stopped.error.message
    assert len(lines) == 2 and model.requests == []

    # The user checked the file: line 1 is there. Confirming runs it again, so it is written twice.
    finished = await agent_with(Counting(), appender(lines)).resume("r", confirm=["call-1"])
    assert finished.output == f"wrote {LINES} lines"
    assert [line.split()[1] for line in lines] == ["0", "1", "1", "2", "3"]


async def test_a_tool_that_takes_an_idempotency_key_gets_the_same_key_again_and_writes_once() -> None:
    lines: list[str] = []
    first = appender(lines, crash_on=3, idempotent="key")
    with pytest.raises(KeyboardInterrupt):
        await agent_with(Counting(), first).run("write", durability="exit", run_id="k")
    second = appender(lines, idempotent="key")
    result = await agent_with(Counting(), second).resume("k")

    assert result.output == f"wrote {LINES} lines"
    assert [line.split()[1] for line in lines] == ["0", "1", "2", "3"]  # line 2 once
    assert second.keys[0] == first.keys[-1] and second.keys[0].startswith("k:t:")
    assert len(set(first.keys[:-1] + second.keys)) == LINES


async def test_an_idempotent_tool_is_simply_run_again() -> None:
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        await agent_with(Counting(), appender(lines, crash_on=1, idempotent=True)).run(
            "write", durability="sync", run_id="i"
        )
    result = await agent_with(Counting(), appender(lines, idempotent=True)).resume("i")
    assert result.stop_reason == "final_answer"
    assert [line.split()[1] for line in lines] == ["0", "0", "1", "2", "3"]  # call 0 ran again, as declared safe


async def test_resuming_a_finished_run_replays_it_whole_with_no_model_call() -> None:
    lines: list[str] = []
    done = await agent_with(Counting(), appender(lines)).run("write", durability="sync", run_id="f")
    model = Counting()
    again = await agent_with(model, appender(lines)).resume("f")
    assert again.output == done.output and again.usage.calls == done.usage.calls
    assert model.requests == [] and len(lines) == LINES


async def test_resume_refuses_another_model_or_agent_and_names_the_differences() -> None:
    lines: list[str] = []
    with pytest.raises(errors.ModelRequestError):
        await agent_with(Counting(fail_at=2), appender(lines)).run("write", durability="sync", run_id="d")
    other = ScriptedModel(writer, name="other")
    with pytest.raises(errors.ResumeError) as refused:
        await agent_with(other, appender(lines), instructions="Be brief.").resume("d")
    message = str(refused.value)
    assert "model: 'scripted:scripted' then, 'scripted:other' now" in message
    assert "instructions:" in message and "--force" in message
    forced = await agent_with(other, appender(lines), instructions="Be brief.").resume("d", force=True)
    assert forced.stop_reason == "final_answer"


async def test_resume_of_an_unknown_run_says_which_runs_can_be_resumed() -> None:
    with pytest.raises(errors.ResumeError, match=r"run nope has no journal.*durability="):
        await agent_with(Counting(), appender([])).resume("nope")


async def test_a_run_a_live_process_holds_cannot_be_resumed(journal_home: Path) -> None:
    from agorakit.trace.journal_store import _started, this_process

    with pytest.raises(errors.ModelRequestError):
        await agent_with(Counting(fail_at=2), appender([])).run("write", durability="sync", run_id="held")
    host = this_process().split(":")[0]
    with sqlite3.connect(journal_home) as db:  # pid 1 is alive for as long as this machine is
        db.execute("UPDATE runs SET owner = ? WHERE run_id = 'held'", (f"{host}:1:{_started(1)}",))
    with pytest.raises(errors.RunInUse, match="held is being run by another process"):
        await agent_with(Counting(), appender([])).resume("held")
    with sqlite3.connect(journal_home) as db:  # a process that is gone holds nothing
        db.execute("UPDATE runs SET owner = ? WHERE run_id = 'held'", (f"{host}:999999999:1",))
    assert (await agent_with(Counting(), appender([])).resume("held")).stop_reason == "final_answer"


async def test_a_damaged_record_and_all_after_it_are_dropped_and_recomputed(journal_home: Path) -> None:
    lines: list[str] = []
    with pytest.raises(errors.ModelRequestError):
        await agent_with(Counting(fail_at=4), appender(lines)).run("write", durability="sync", run_id="torn")
    with sqlite3.connect(journal_home) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM steps WHERE run_id = 'torn' ORDER BY seq")]
        assert [k[0] for k in keys] == ["m", "t", "m", "t", "m", "t"]
        # The last model completion is cut half-way, as a power loss mid-write would leave it.
        db.execute("UPDATE steps SET payload = substr(payload, 1, 10) WHERE key = ?", (keys[4],))
    model = Counting()
    result = await agent_with(model, appender(lines, idempotent="key")).resume("torn")
    assert result.output == f"wrote {LINES} lines"
    assert len(model.requests) == 3  # the damaged completion is asked again, then the two never made
    assert [line.split()[1] for line in lines] == ["0", "1", "2", "3"]


async def test_a_journal_from_a_newer_agorakit_is_refused_with_both_versions(journal_home: Path) -> None:
    with pytest.raises(errors.ModelRequestError):
        await agent_with(Counting(fail_at=1), appender([])).run("write", durability="sync", run_id="new")
    with sqlite3.connect(journal_home) as db:
        db.execute("UPDATE runs SET format = 99, version = '9.0.0' WHERE run_id = 'new'")
    with pytest.raises(errors.ResumeError, match=r"journaled by agorakit 9\.0\.0 \(journal format 99\)"):
        await agent_with(Counting(), appender([])).resume("new")


async def test_the_resumed_trace_has_every_step_once_and_marks_the_replayed_ones() -> None:
    sink = MemorySink()
    lines: list[str] = []
    with pytest.raises(errors.ModelRequestError):
        await Agent("writer", Counting(fail_at=3), tools=[appender(lines)], trace=sink).run(
            "write", durability="sync", run_id="t"
        )
    resumed_sink = MemorySink()
    await Agent("writer", Counting(), tools=[appender(lines)], trace=resumed_sink).resume("t")
    starts = {r[2]: r for r in resumed_sink.records if r[0] == "span_start"}
    ends = [r for r in resumed_sink.records if r[0] == "span_end"]
    chats = [(starts[r[2]][4], r[5].get(attr.REPLAYED, False)) for r in ends if starts[r[2]][4].startswith("chat")]
    tools = [(starts[r[2]][4], r[5].get(attr.REPLAYED, False)) for r in ends if starts[r[2]][4].startswith("execute")]
    assert [replayed for _, replayed in chats] == [True, True, False, False, False]
    assert [replayed for _, replayed in tools] == [True, True, False, False]


async def test_a_journaled_run_keeps_nothing_pending_once_it_ends(journal_home: Path) -> None:
    for mode in ("sync", "async", "exit"):
        await agent_with(Counting(), appender([])).run("write", durability=mode, run_id=f"m-{mode}")
    with sqlite3.connect(journal_home) as db:
        rows = dict(db.execute("SELECT run_id, count(*) FROM steps GROUP BY run_id").fetchall())
        status = dict(db.execute("SELECT run_id, status FROM runs").fetchall())
        owners = {owner for (owner,) in db.execute("SELECT owner FROM runs")}
    assert rows == {"m-sync": 2 * LINES + 1, "m-async": 2 * LINES + 1, "m-exit": 2 * LINES + 1}
    assert set(status.values()) == {"final_answer"} and owners == {None}


async def test_bad_durability_and_a_reused_run_id_are_clear_errors() -> None:
    with pytest.raises(errors.ConfigError, match="unknown durability 'always'"):
        await agent_with(Counting(), appender([])).run("write", durability="always")  # type: ignore[arg-type]
    await agent_with(Counting(), appender([])).run("write", durability="exit", run_id="once")
    with pytest.raises(errors.ResumeError, match="run once is already in the journal"):
        await agent_with(Counting(), appender([])).run("write", durability="exit", run_id="once")


def test_tools_say_whether_they_may_run_again() -> None:
    @tool
    def add(a: int, b: int) -> int:
        return a + b

    outbox: list[str] = []

    @tool
    def send(to: str) -> str:
        outbox.append(to)
        return to

    assert add.idempotent is True and send.idempotent is False
    assert tool(idempotent="key")(send.fn).idempotent == "key"
    with pytest.raises(errors.ToolDefinitionError, match="idempotent must be True, False or 'key'"):
        tool(idempotent="yes")(send.fn)  # type: ignore[arg-type]


def test_journal_keys_follow_content_not_arrival_order(journal_home: Path) -> None:
    from agorakit.core.messages import Message

    journal = RunJournal.start(
        "keys", kind="agent", name="a", fingerprint={}, input={}, durability="exit", path=journal_home
    )
    one = ModelRequest([Message("user", "one")])
    two = ModelRequest([Message("user", "two")])
    first = [journal.completion_key("m", "a", one), journal.completion_key("m", "a", two)]
    journal._seen.clear()
    second = [journal.completion_key("m", "a", two), journal.completion_key("m", "a", one)]
    assert first == second[::-1]
    assert journal.completion_key("m", "a", one) != first[0]  # a repeat is the next occurrence
    assert journal.completion_key("m", "b", one) != first[0]  # another agent's call
    journal.finish("final_answer")
