"""End to end under faults: a real Agent, Kernel and openai backend against the fault server.

Every test drives agorakit over real HTTP on loopback (tests/fault_server.py)
and records into a real SQLite trace store under ``tmp_path``; nothing is
mocked. Assertions are on what the server received (request counts and
bodies), on what the run returned or raised, and on the trace read back
from the database.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agorakit.agents import Agent
from agorakit.core.errors import (
    ModelConnectionError,
    ModelRequestError,
    ModelServerError,
    ModelTimeout,
    RateLimited,
    StreamInterrupted,
)
from agorakit.core.ids import new_run_id
from agorakit.core.messages import user
from agorakit.kernel import Budget, Kernel, RetryPolicy, RunLedger
from agorakit.models.base import ModelRequest, StreamChunk
from agorakit.models.openai_backend import OpenAIModel, from_uri
from agorakit.tools.builtin import calculator
from agorakit.trace import attributes as attr
from agorakit.trace.reader import RunTrace, load_run
from agorakit.trace.records import EventRecord, SpanRecord
from agorakit.trace.store import open_store
from agorakit.trace.tracer import Tracer, current_span
from fault_server import (
    FaultServer,
    Received,
    completion,
    delayed,
    error,
    malformed,
    rate_limited,
    stalled_stream,
    tool_call,
    truncated_stream,
)

pytestmark = pytest.mark.integration

FAST = {"initial_backoff": 0.01, "max_backoff": 0.05}
"""Backoff that keeps retry tests fast (Retry-After, when a server sends one, still wins)."""


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's environment must not change what these tests see.
    for name in ("OPENAI_API_KEY", "AGORAKIT_TRACE", "AGORAKIT_CAPTURE_CONTENT"):
        monkeypatch.delenv(name, raising=False)


_opened: list[Agent | OpenAIModel] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    """Close each test's HTTP clients on its own event loop (left open, they are collected
    after the loop has closed, with ResourceWarnings and "Event loop is closed" errors)."""
    yield
    while _opened:
        item = _opened.pop()
        model = item if isinstance(item, OpenAIModel) else item.model
        if isinstance(model, OpenAIModel):
            await model.aclose()


def model_at(base_url: str) -> OpenAIModel:
    model = from_uri("fake", base_url)
    _opened.append(model)
    return model


def make_agent(base_url: str, db: Path, *, kernel: Kernel | None = None, **kwargs: Any) -> Agent:
    """An agent on ``openai:fake@BASE_URL`` (resolved by the agent itself) with the calculator."""
    kwargs.setdefault("tools", [calculator])
    kwargs.setdefault("max_steps", 5)
    agent = Agent(
        "faulty",
        f"openai:fake@{base_url}",
        instructions="You are a test agent.",
        kernel=kernel or Kernel(retry=RetryPolicy(**FAST), timeout=10.0),
        trace=db,
        **kwargs,
    )
    _opened.append(agent)
    return agent


def flushed_run(db: Path, run_id: str = "last") -> RunTrace:
    """The run as stored, after waiting for the store's writer to commit (for runs that succeeded)."""
    assert open_store(db).flush(timeout=10.0)
    return load_run(db, run_id)


def chat_spans(trace: RunTrace) -> list[SpanRecord]:
    return [span for span in trace.spans if span.operation == attr.OP_CHAT]


def root_span(trace: RunTrace) -> SpanRecord:
    roots = [span for span in trace.spans if span.parent_id is None]
    assert len(roots) == 1, roots
    return roots[0]


def events_named(trace: RunTrace, name: str, span: SpanRecord | None = None) -> list[EventRecord]:
    return [e for e in trace.events if e.name == name and (span is None or e.span_id == span.span_id)]


def last_tool_message(received: Received) -> dict[str, Any]:
    message: dict[str, Any] = received.body["messages"][-1]
    assert message["role"] == "tool", received.body["messages"]
    return message


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- 1. rate limiting -----------------------------------------------------------


async def test_rate_limit_waits_out_retry_after_then_succeeds(fault_server: FaultServer, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    fault_server.script(rate_limited(retry_after="1"), completion("after the wait"))
    agent = make_agent(fault_server.base_url, db)

    started = time.perf_counter()
    result = await agent.run("hello")
    elapsed = time.perf_counter() - started

    assert result.stop_reason == "final_answer"
    assert result.output == "after the wait"
    assert fault_server.count == 2
    assert elapsed >= 1.0  # the server's Retry-After, not the 10 ms backoff

    trace = flushed_run(db, result.run_id)
    [chat] = chat_spans(trace)
    assert chat.status == "ok"
    assert chat.attributes[attr.ATTEMPT] == 2
    [retry] = events_named(trace, "retry", chat)
    assert retry.attributes[attr.ERROR_TYPE] == "RateLimited"
    assert retry.attributes[attr.ATTEMPT] == 1
    # Retry-After plus up to 25% jitter (so agents behind one limit do not retry together).
    assert 1.0 <= retry.attributes["agorakit.retry.delay_s"] <= 1.25
    assert "429" in retry.attributes[attr.ERROR_MESSAGE]


async def test_a_retry_after_longer_than_the_policy_allows_is_raised_at_once(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    fault_server.script(rate_limited(retry_after="120"), completion("never sent"))
    kernel = Kernel(retry=RetryPolicy(max_retry_after=60.0, **FAST), timeout=10.0)

    started = time.perf_counter()
    with pytest.raises(RateLimited) as raised:
        await make_agent(fault_server.base_url, tmp_path / "traces.db", kernel=kernel).run("hello")

    assert time.perf_counter() - started < 2.0  # "rate limited for 2 minutes" now, not a 2-minute hang
    assert fault_server.count == 1
    assert raised.value.retry_after == 120.0


async def test_an_exhausted_quota_is_not_retried(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.script(rate_limited(retry_after="1", code="insufficient_quota"), completion("never sent"))

    with pytest.raises(ModelRequestError, match="no quota left"):
        await make_agent(fault_server.base_url, tmp_path / "traces.db").run("hello")

    assert fault_server.count == 1


# --- 2. server errors -----------------------------------------------------------


async def test_server_errors_are_retried_until_success(fault_server: FaultServer, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    fault_server.script(
        error(500, "upstream overloaded", type="server_error"),
        error(500, "upstream overloaded", type="server_error"),
        completion("third time lucky"),
    )
    result = await make_agent(fault_server.base_url, db).run("hello")

    assert result.output == "third time lucky"
    assert fault_server.count == 3
    trace = flushed_run(db, result.run_id)
    [chat] = chat_spans(trace)
    assert chat.attributes[attr.ATTEMPT] == 3
    retries = events_named(trace, "retry", chat)
    assert [e.attributes[attr.ATTEMPT] for e in retries] == [1, 2]
    assert {e.attributes[attr.ERROR_TYPE] for e in retries} == {"ModelServerError"}


async def test_server_errors_past_max_attempts_fail_the_run_and_the_trace_keeps_it(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    db = tmp_path / "traces.db"
    fault_server.script(
        error(500, "upstream overloaded", type="server_error"),
        error(500, "upstream overloaded", type="server_error"),
        completion("never sent"),
    )
    kernel = Kernel(retry=RetryPolicy(max_attempts=2, **FAST), timeout=10.0)

    with pytest.raises(ModelServerError) as raised:
        await make_agent(fault_server.base_url, db, kernel=kernel).run("hello")

    assert raised.value.status == 500
    assert "upstream overloaded" in str(raised.value)
    assert fault_server.count == 2
    # No flush here on purpose: Agent.run flushes the store before re-raising, so
    # everything the failed run wrote is already committed and visible to a reader.
    trace = load_run(db, "last")
    root = root_span(trace)
    assert root.status == "error"
    assert root.finished
    assert root.attributes[attr.ERROR_TYPE] == "ModelServerError"
    [chat] = chat_spans(trace)
    assert chat.status == "error"
    assert chat.finished
    assert chat.attributes[attr.ERROR_TYPE] == "ModelServerError"
    assert "500" in chat.attributes[attr.ERROR_MESSAGE]
    [retry] = events_named(trace, "retry", chat)
    assert retry.attributes[attr.ERROR_TYPE] == "ModelServerError"
    [exception] = events_named(trace, "exception", chat)
    assert exception.attributes["exception.type"] == "ModelServerError"
    # The error reached the root span too, and the run's own messages are there.
    assert events_named(trace, "exception", root)
    assert events_named(trace, "gen_ai.user.message")
    assert trace.summary.status == "error"


# --- 3. timeouts ----------------------------------------------------------------


async def test_a_slow_server_is_cut_off_by_the_attempt_timeout_on_every_attempt(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    db = tmp_path / "traces.db"
    attempts = 3
    fault_server.default = delayed(3.0, completion("too late"))
    kernel = Kernel(retry=RetryPolicy(max_attempts=attempts, **FAST), timeout=10.0, attempt_timeout=0.5)

    started = time.perf_counter()
    with pytest.raises(ModelTimeout) as raised:
        await make_agent(fault_server.base_url, db, kernel=kernel).run("hello")
    elapsed = time.perf_counter() - started

    assert fault_server.count == attempts
    # 3 attempts of 0.5 s plus tiny backoffs; an uncut attempt alone would take 3 s.
    assert attempts * 0.5 <= elapsed < 3.0, elapsed
    assert "0.5s" in str(raised.value)
    trace = load_run(db, "last")
    [chat] = chat_spans(trace)
    assert chat.attributes[attr.ERROR_TYPE] == "ModelTimeout"
    assert [e.attributes[attr.ATTEMPT] for e in events_named(trace, "retry", chat)] == [1, 2]


# --- 4. streams -----------------------------------------------------------------


async def _stream(
    kernel: Kernel, model: OpenAIModel, run: RunLedger, chunks: list[StreamChunk] | None = None
) -> list[StreamChunk]:
    chunks = [] if chunks is None else chunks
    async for chunk in kernel.stream(model, ModelRequest([user("stream please")]), run=run):
        chunks.append(chunk)
    return chunks


def _stream_run(db: Path) -> RunLedger:
    return RunLedger.create(Tracer(new_run_id(), open_store(db)))


@pytest.mark.parametrize("abrupt", [False, True], ids=["clean-end", "dropped-connection"])
async def test_a_stream_cut_before_any_text_is_retried(fault_server: FaultServer, tmp_path: Path, abrupt: bool) -> None:
    db = tmp_path / "traces.db"
    # The cut stream sends only the role chunk (no text), then ends or drops the connection.
    fault_server.script(truncated_stream("", abrupt=abrupt), completion("whole answer"))
    kernel = Kernel(retry=RetryPolicy(**FAST), timeout=10.0)
    run = _stream_run(db)

    chunks = await _stream(kernel, model_at(fault_server.base_url), run)

    assert fault_server.count == 2
    assert "".join(chunk.delta for chunk in chunks) == "whole answer"
    final = chunks[-1].completion
    assert final is not None and final.message.content == "whole answer"
    trace = flushed_run(db, run.run_id)
    [chat] = chat_spans(trace)
    assert chat.status == "ok"
    assert chat.attributes["agorakit.stream"] is True
    assert chat.attributes[attr.ATTEMPT] == 2
    [retry] = events_named(trace, "retry", chat)
    assert retry.attributes[attr.ERROR_TYPE] == "StreamInterrupted"


@pytest.mark.parametrize("abrupt", [False, True], ids=["clean-end", "dropped-connection"])
async def test_a_stream_cut_after_text_was_shown_is_raised_not_retried(
    fault_server: FaultServer, tmp_path: Path, abrupt: bool
) -> None:
    db = tmp_path / "traces.db"
    fault_server.script(truncated_stream("Hello, this is cut", abrupt=abrupt), completion("never sent"))
    kernel = Kernel(retry=RetryPolicy(**FAST), timeout=10.0)
    run = _stream_run(db)
    chunks: list[StreamChunk] = []

    with pytest.raises(StreamInterrupted):
        await _stream(kernel, model_at(fault_server.base_url), run, chunks)

    assert fault_server.count == 1  # a retry would show the user the text twice
    assert "".join(chunk.delta for chunk in chunks) == "Hello, this is cut"
    assert all(chunk.completion is None for chunk in chunks)
    trace = flushed_run(db, run.run_id)
    [chat] = chat_spans(trace)
    assert chat.status == "error"
    assert chat.attributes[attr.ERROR_TYPE] == "StreamInterrupted"
    assert not events_named(trace, "retry", chat)


async def test_a_stream_that_stalls_before_any_text_is_cut_by_the_timeout_and_retried(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    db = tmp_path / "traces.db"
    # The stalled stream sends its role chunk (no text) and then goes silent for 5 s.
    fault_server.script(stalled_stream("never shown", stall=5.0), completion("second try"))
    kernel = Kernel(retry=RetryPolicy(**FAST), timeout=10.0, attempt_timeout=0.5)
    run = _stream_run(db)

    started = time.perf_counter()
    chunks = await _stream(kernel, model_at(fault_server.base_url), run)
    elapsed = time.perf_counter() - started

    assert fault_server.count == 2
    assert 0.5 <= elapsed < 3.0, elapsed
    assert "".join(chunk.delta for chunk in chunks) == "second try"
    trace = flushed_run(db, run.run_id)
    [chat] = chat_spans(trace)
    [retry] = events_named(trace, "retry", chat)
    assert retry.attributes[attr.ERROR_TYPE] == "ModelTimeout"
    assert "0.5s" in retry.attributes[attr.ERROR_MESSAGE]


async def test_a_slow_stream_consumer_is_never_cancelled_by_the_model_timeout(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    # The kernel's timeout bounds the wait for the model. It used to run across the
    # generator's ``yield``s, so it expired while the caller was busy between chunks
    # and cancelled the caller's own await with a bare CancelledError.
    text = "one two three four five six seven eight"  # 4-character pieces: 10 text chunks
    fault_server.script(completion(text))
    kernel = Kernel(retry=RetryPolicy(**FAST), timeout=0.5)
    run = _stream_run(tmp_path / "traces.db")
    deltas: list[str] = []

    started = time.perf_counter()
    async for chunk in kernel.stream(model_at(fault_server.base_url), ModelRequest([user("go")]), run=run):
        deltas.append(chunk.delta)
        await asyncio.sleep(0.1)  # the caller renders slowly: 1 s in all, twice the timeout
    elapsed = time.perf_counter() - started

    assert "".join(deltas) == text
    assert elapsed >= 1.0
    assert fault_server.count == 1


async def test_a_stream_abandoned_early_leaks_no_span_and_is_closed(fault_server: FaultServer, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    fault_server.script(completion("a long answer the caller stops reading early"))
    kernel = Kernel(retry=RetryPolicy(**FAST), timeout=10.0)
    run = _stream_run(db)
    model = model_at(fault_server.base_url)

    async for chunk in kernel.stream(model, ModelRequest([user("go")]), run=run):
        # The kernel's chat span is not the caller's current span between chunks...
        assert current_span() is None
        if chunk.delta:
            break
    assert current_span() is None  # ...nor after the caller walked away
    await asyncio.sleep(0.1)  # the abandoned generator is closed by the event loop's finaliser

    trace = flushed_run(db, run.run_id)
    [chat] = chat_spans(trace)
    assert chat.finished
    assert chat.status == "ok"
    assert chat.attributes["agorakit.stream.closed_early"] is True
    # The queue slot was given back: the next call on the same kernel and server goes through.
    fault_server.script(completion("next"))
    chunks = await _stream(kernel, model, run)
    assert chunks[-1].completion is not None and chunks[-1].completion.message.content == "next"


# --- 5. malformed bodies --------------------------------------------------------


async def test_a_malformed_body_is_retried(fault_server: FaultServer, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    fault_server.script(malformed(), completion("clean body"))
    result = await make_agent(fault_server.base_url, db).run("hello")

    assert result.output == "clean body"
    assert fault_server.count == 2
    trace = flushed_run(db, result.run_id)
    [chat] = chat_spans(trace)
    assert chat.attributes[attr.ATTEMPT] == 2
    [retry] = events_named(trace, "retry", chat)
    assert retry.attributes[attr.ERROR_TYPE] == "ModelServerError"
    assert "not JSON" in retry.attributes[attr.ERROR_MESSAGE]


async def test_malformed_bodies_every_time_fail_after_max_attempts(fault_server: FaultServer, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    fault_server.default = malformed()
    kernel = Kernel(retry=RetryPolicy(max_attempts=3, **FAST), timeout=10.0)

    with pytest.raises(ModelServerError) as raised:
        await make_agent(fault_server.base_url, db, kernel=kernel).run("hello")

    assert fault_server.count == 3
    assert raised.value.status == 200
    assert "not a chat completion" in str(raised.value)
    assert fault_server.base_url in str(raised.value)


# --- 6-7. bad tool calls from the model -----------------------------------------


async def test_a_call_to_an_unknown_tool_becomes_an_observation(fault_server: FaultServer, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    fault_server.script(
        tool_call("rm_rf", {"path": "/"}, call_id="call_rm"),
        completion("I cannot do that; here is my answer."),
    )
    result = await make_agent(fault_server.base_url, db).run("clean up")

    assert result.stop_reason == "final_answer"
    assert result.output == "I cannot do that; here is my answer."
    assert fault_server.count == 2
    observation = last_tool_message(fault_server.chat_requests[1])
    assert observation["tool_call_id"] == "call_rm"
    assert "unknown tool 'rm_rf'" in observation["content"]
    assert "calculator" in observation["content"]
    # The model was shown its own call, so it can tell which call the error answers.
    sent_call = fault_server.chat_requests[1].body["messages"][-2]["tool_calls"][0]
    assert sent_call["id"] == "call_rm" and sent_call["function"]["name"] == "rm_rf"

    trace = flushed_run(db, result.run_id)
    [tool_span] = [s for s in trace.spans if s.operation == attr.OP_EXECUTE_TOOL]
    assert tool_span.status == "error"
    assert tool_span.attributes[attr.ERROR_TYPE] == "ToolNotFound"
    assert root_span(trace).status == "ok"


async def test_bad_tool_arguments_become_readable_observations(fault_server: FaultServer, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    fault_server.script(
        tool_call("calculator", '{"expression": "17 *', call_id="c_json"),  # invalid JSON
        tool_call("calculator", {"expression": 42}, call_id="c_type"),  # wrong type
        tool_call("calculator", {"expr": "17 * 23"}, call_id="c_name"),  # wrong argument name
        tool_call("calculator", {"expression": "17 * 23"}, call_id="c_ok"),
        completion("17 * 23 = 391"),
    )
    result = await make_agent(fault_server.base_url, db, max_steps=6).run("What is 17 * 23?")

    assert result.stop_reason == "final_answer"
    assert result.output == "17 * 23 = 391"
    assert fault_server.count == 5
    requests = fault_server.chat_requests

    bad_json = last_tool_message(requests[1])
    assert bad_json["tool_call_id"] == "c_json"
    assert bad_json["content"].startswith("Error:")
    assert "calculator" in bad_json["content"] and "JSON" in bad_json["content"]
    assert '"17 *' in bad_json["content"]  # the model sees what it wrote
    # ...and its call is echoed back verbatim, not as the internal placeholder.
    echoed = requests[1].body["messages"][-2]["tool_calls"][0]["function"]["arguments"]
    assert echoed == '{"expression": "17 *'

    wrong_type = last_tool_message(requests[2])
    assert wrong_type["tool_call_id"] == "c_type"
    assert wrong_type["content"].startswith("Error: invalid arguments for tool 'calculator'")
    assert "expression" in wrong_type["content"] and "42" in wrong_type["content"]

    wrong_name = last_tool_message(requests[3])
    assert wrong_name["content"].startswith("Error: invalid arguments for tool 'calculator'")
    assert "expression: missing required argument" in wrong_name["content"]
    assert "expr: unexpected argument" in wrong_name["content"]

    assert last_tool_message(requests[4])["content"] == "391"

    trace = flushed_run(db, result.run_id)
    outcomes = [s.attributes[attr.TOOL_OUTCOME] for s in trace.spans if s.operation == attr.OP_EXECUTE_TOOL]
    assert outcomes == ["error", "error", "error", "ok"]


# --- 8. nothing listening -------------------------------------------------------


async def test_connection_refused_fails_fast_after_max_attempts(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    kernel = Kernel(retry=RetryPolicy(max_attempts=3, **FAST), timeout=10.0)

    started = time.perf_counter()
    with pytest.raises(ModelConnectionError) as raised:
        await make_agent(base_url, db, kernel=kernel).run("hello")
    elapsed = time.perf_counter() - started

    assert base_url in str(raised.value)
    assert elapsed < 3.0, elapsed
    trace = load_run(db, "last")
    [chat] = chat_spans(trace)
    assert chat.attributes[attr.ERROR_TYPE] == "ModelConnectionError"
    retries = events_named(trace, "retry", chat)
    assert [e.attributes[attr.ATTEMPT] for e in retries] == [1, 2]  # 3 attempts in all
    assert {e.attributes[attr.ERROR_TYPE] for e in retries} == {"ModelConnectionError"}


# --- 9. budgets -----------------------------------------------------------------


async def test_a_call_budget_ends_a_run_that_never_stops_calling_tools(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    db = tmp_path / "traces.db"
    fault_server.default = tool_call("calculator", {"expression": "1 + 1"})
    agent = make_agent(fault_server.base_url, db, budget=Budget(max_calls=1), max_steps=10)

    result = await agent.run("keep adding")

    assert result.stop_reason == "budget_exceeded"
    assert result.output is None
    assert fault_server.count == 1
    assert result.usage.calls == 1
    assert result.error is not None and "1 model calls of 1 allowed" in result.error.message
    trace = flushed_run(db, result.run_id)
    [event] = events_named(trace, "budget_exceeded")
    assert event.attributes["agorakit.budget.limit"] == "calls"
    root = root_span(trace)
    assert root.status == "error"
    assert root.attributes[attr.STOP_REASON] == "budget_exceeded"
    assert root.attributes[attr.ERROR_TYPE] == "BudgetExceeded"
    assert len(chat_spans(trace)) == 1
