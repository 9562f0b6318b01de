"""Streaming: typed events as the run works, then the result."""

from __future__ import annotations

import asyncio

from agorakit import Agent, ScriptedModel, call, tool
from agorakit.core.stream import (
    HandoffEvent,
    PolicyDecision,
    RunFinished,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageEvent,
)
from agorakit.methods.topology import GroupChat
from agorakit.policy import Policy


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


POLICY = Policy.load("""
version: 1
fallback: error
tools:
  add:
    - effect: allow
""")


async def test_an_agent_streams_tool_calls_decisions_usage_text_and_the_result() -> None:
    model = ScriptedModel([call("add", a=2, b=3), "The sum is 5"])
    agent = Agent("calc", model, tools=[add], policy=POLICY, trace=False)
    events = [event async for event in agent.run_stream("2 + 3?")]
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "UsageEvent",
        "ToolCallStarted",
        "PolicyDecision",
        "ToolCallFinished",
        "TextDelta",
        "TextDelta",
        "TextDelta",
        "TextDelta",
        "UsageEvent",
        "RunFinished",
    ]
    started, decision, finished = events[1], events[2], events[3]
    assert isinstance(started, ToolCallStarted) and started.agent == "calc" and started.call.name == "add"
    assert isinstance(decision, PolicyDecision) and decision.allowed and decision.tool == "add"
    assert isinstance(finished, ToolCallFinished) and finished.content == "5" and finished.ok
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "The sum is 5"
    usage = [e for e in events if isinstance(e, UsageEvent)]
    assert usage[-1].total.calls == 2 and usage[0].total.calls == 1
    final = events[-1]
    assert isinstance(final, RunFinished) and final.result.output == "The sum is 5"


async def test_a_handoff_is_an_event() -> None:
    b = Agent("b", ScriptedModel(["b here"]))
    a = Agent("a", ScriptedModel([call("transfer_to_b")]), handoffs=[b], trace=False)
    events = [e async for e in a.run_stream("x")]
    assert [e for e in events if isinstance(e, HandoffEvent)] == [HandoffEvent("a", "b")]
    assert isinstance(events[-1], RunFinished) and events[-1].result.output == "b here"


async def test_a_team_streams_every_agents_text_in_turn() -> None:
    agents = [Agent(name, ScriptedModel([f"{name} speaks"]), trace=False) for name in ("x", "y")]
    chat = GroupChat(agents, max_turns=2, terminate_on=None)
    chat.trace = False
    events = [e async for e in chat.run_stream("topic")]
    spoken = [(e.agent, e.text) for e in events if isinstance(e, TextDelta)]
    assert spoken == [("x", "x "), ("x", "speaks"), ("y", "y "), ("y", "speaks")]
    assert isinstance(events[-1], RunFinished) and events[-1].result.output == "y speaks"


async def test_a_consumer_that_stops_early_cancels_the_run() -> None:
    release = asyncio.Event()
    calls: list[str] = []

    @tool
    async def step(n: int) -> str:
        """One step of work; after the first it waits to be released."""
        calls.append(f"start {n}")
        if n > 1:
            await release.wait()
        calls.append(f"end {n}")
        return "ok"

    model = ScriptedModel([call("step", n=i) for i in range(1, 6)])
    agent = Agent("worker", model, tools=[step], max_steps=5, loop_limit=10, trace=False)
    stream = agent.run_stream("work")
    async for event in stream:
        if isinstance(event, ToolCallFinished):
            break
    await stream.aclose()  # cancels the run, which is waiting inside the second call
    release.set()
    await asyncio.sleep(0.01)
    assert calls == ["start 1", "end 1", "start 2"] and len(model.requests) == 2


async def test_a_run_that_is_not_streamed_emits_nothing_and_calls_complete() -> None:
    class CompleteOnly(ScriptedModel):
        async def stream(self, request):  # type: ignore[no-untyped-def, override]
            raise AssertionError("a plain run must not stream")
            yield  # pragma: no cover

    result = await Agent("a", CompleteOnly(["hi"]), trace=False).run("x")
    assert result.output == "hi"


async def test_batches_hold_the_events_ready_together_then_the_result() -> None:
    from agorakit.core.stream import stream_event_batches
    from agorakit.models import Delay

    # The model yields to the loop once before answering, and the run ends without waiting
    # again: the words, the usage and the result are ready together, one batch (one write).
    agent = Agent("writer", ScriptedModel([Delay(0, "two words")]), trace=False)
    batches = [batch async for batch in stream_event_batches(lambda: agent.run("hi"))]
    assert [[type(e).__name__ for e in batch] for batch in batches] == [
        ["TextDelta", "TextDelta", "UsageEvent", "RunFinished"],
    ]
    assert "".join(e.text for e in batches[0] if isinstance(e, TextDelta)) == "two words"
    finished = batches[0][-1]
    assert isinstance(finished, RunFinished) and finished.result.output == "two words"


async def test_batches_split_where_the_run_waits() -> None:
    from agorakit.core.stream import stream_event_batches
    from agorakit.models import Delay

    # The run waits 10 ms after its first call's text (the second call's delay): two batches,
    # the result with the events of the last call.
    model = ScriptedModel([Delay(0, call("add", a=2, b=3)), Delay(0.01, "done now")])
    agent = Agent("writer", model, tools=[add], policy=POLICY, trace=False)
    batches = [batch async for batch in stream_event_batches(lambda: agent.run("hi"))]
    names = [[type(e).__name__ for e in batch] for batch in batches]
    assert names[-1] == ["TextDelta", "TextDelta", "UsageEvent", "RunFinished"]
    assert "ToolCallFinished" in names[0] and len(names) == 2


async def test_batches_raise_the_runs_error_after_the_events_before_it() -> None:
    from agorakit.core.stream import emit, stream_event_batches

    async def failing() -> str:
        emit(TextDelta("a", "partial"))
        raise ValueError("the model fell over")

    seen: list[list[object]] = []
    try:
        async for batch in stream_event_batches(failing):
            seen.append(list(batch))
    except ValueError as error:
        assert str(error) == "the model fell over"
    else:
        raise AssertionError("the run's error was not raised")
    assert seen == [[TextDelta("a", "partial")]]


async def test_a_batch_reader_that_stops_early_cancels_the_run() -> None:
    from agorakit.core.stream import emit, stream_event_batches

    cancelled = asyncio.Event()

    async def endless() -> str:
        emit(TextDelta(None, "first"))
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    batches = stream_event_batches(endless)
    assert await anext(batches) == [TextDelta(None, "first")]
    await batches.aclose()
    assert cancelled.is_set()
