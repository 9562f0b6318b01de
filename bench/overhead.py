"""Framework overhead, measured against the budgets in DESIGN.md.

    .venv/bin/python bench/overhead.py [--embedded]

(a) 4 agents take 400 turns in one shared conversation on an instant scripted
    model: microseconds per turn, with tracing off and on.
(b) one agent makes 200 sequential tool calls: microseconds per step.
(c) ``import agorakit`` in a fresh interpreter: seconds (median of 7).
(d) trace events written to SQLite per second, through the batching writer.
With ``--embedded``, also one turn of the embedded model, to put the trace's
cost per turn in proportion (budget: under 5% of a turn).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agorakit import Agent, call, tool
from agorakit.core.messages import Message
from agorakit.core.usage import Usage
from agorakit.kernel import Kernel
from agorakit.models.base import Completion, ModelRequest, Sampling, StreamChunk
from agorakit.trace.store import TraceStore
from agorakit.trace.tracer import NullSink, Tracer, TraceSink

REPEATS = 5  # each figure is the best of this many runs, as timeit reports
TURNS = 400
TOOL_STEPS = 200
EVENTS = 100_000


class InstantModel:
    """A model that answers at once and keeps nothing: only the framework is timed.
    (ScriptedModel records every request, which a long conversation makes O(n).)"""

    provider = "scripted"
    model_name = "instant"
    uri = "scripted:instant"
    queue_key = uri
    hosted = False

    def __init__(self, respond: Callable[[ModelRequest], Message]) -> None:
        self.respond = respond

    async def complete(self, request: ModelRequest) -> Completion:
        return Completion(self.respond(request), Usage(1, 10, 1), "stop", self.model_name)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        yield StreamChunk(completion=await self.complete(request))


async def shared_conversation(sink: TraceSink | None) -> float:
    """Microseconds per turn: 4 agents, 400 turns, one growing conversation."""
    kernel = Kernel()
    model = InstantModel(lambda request: Message("assistant", "noted"))
    agents = [Agent(f"agent{i}", model, "Discuss.", kernel=kernel, trace=sink or False) for i in range(4)]
    conversation: list[Message] = [Message("user", "Let us discuss.")]
    for i in range(40):  # warm-up
        await agents[i % 4].run(conversation)
    conversation = [Message("user", "Let us discuss.")]
    started = time.perf_counter()
    for turn in range(TURNS):
        result = await agents[turn % 4].run(conversation)
        conversation.append(result.messages[-1])
    return (time.perf_counter() - started) / TURNS * 1e6


async def sequential_tools(sink: TraceSink | None) -> float:
    """Microseconds per step: one agent, 200 tool calls in a row, then an answer."""

    @tool
    async def noop(i: int) -> str:
        """Do nothing."""
        return "ok"

    steps = 0

    def respond(request: ModelRequest) -> Message:
        nonlocal steps
        steps += 1
        if steps % (TOOL_STEPS + 1) == 0:
            return Message("assistant", "done")
        return Message("assistant", None, [call("noop", i=steps)])

    agent = Agent("worker", InstantModel(respond), tools=[noop], max_steps=TOOL_STEPS + 1, trace=sink or False)
    await agent.run("warm up")
    started = time.perf_counter()
    result = await agent.run("go")
    elapsed = time.perf_counter() - started
    assert result.steps == TOOL_STEPS + 1, result.stop_reason
    return elapsed / result.steps * 1e6


def import_time() -> float:
    times = []
    for _ in range(7):
        out = subprocess.run(
            [sys.executable, "-c", "import time; t=time.perf_counter(); import agorakit; print(time.perf_counter()-t)"],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout))
    return statistics.median(times)


def import_agent_time() -> float:
    times = []
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t=time.perf_counter(); from agorakit import Agent, tool; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout))
    return statistics.median(times)


def events_per_second(path: Path) -> float:
    store = TraceStore(path)
    tracer = Tracer("bench", store)
    started = time.perf_counter()
    for i in range(EVENTS):
        tracer.event("gen_ai.assistant.message", {"agorakit.author": "a", "i": i})
    assert store.flush(timeout=120)
    elapsed = time.perf_counter() - started
    store.close()
    return EVENTS / elapsed


async def embedded_turn_ms() -> float:
    agent = Agent("bench", "llamacpp:gemma-3-270m", "Answer briefly.", trace=False, sampling=Sampling(max_tokens=64))
    await agent.run("Say hello.")  # load and warm up
    started = time.perf_counter()
    await agent.run("What is the capital of France?")
    return (time.perf_counter() - started) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="also time one embedded-model turn")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        turn_off = min(asyncio.run(shared_conversation(NullSink())) for _ in range(REPEATS))
        turn_on = min(asyncio.run(shared_conversation(TraceStore(Path(tmp) / f"a{i}.db"))) for i in range(REPEATS))
        step_off = min(asyncio.run(sequential_tools(NullSink())) for _ in range(REPEATS))
        step_on = min(asyncio.run(sequential_tools(TraceStore(Path(tmp) / f"b{i}.db"))) for i in range(REPEATS))
        rate = max(events_per_second(Path(tmp) / f"events{i}.db") for i in range(3))
    seconds = import_time()
    agent_seconds = import_agent_time()

    table = Table(title="agorakit overhead (bench/overhead.py)", title_justify="left")
    for column in ("measure", "value", "budget", "within"):
        table.add_column(column)

    def row(name: str, value: str, budget: str, ok: bool | None) -> None:
        table.add_row(name, value, budget, "" if ok is None else ("yes" if ok else "NO"))

    row("(a) turn, 4 agents, shared conversation, trace off", f"{turn_off:.1f} µs", "< 20 µs", turn_off < 20)
    row("(a) turn, same, trace on (SQLite)", f"{turn_on:.1f} µs", "", None)
    row("(b) tool-call step, 200 in a row, trace off", f"{step_off:.1f} µs", "", None)
    row("(b) tool-call step, trace on", f"{step_on:.1f} µs", "", None)
    row("(c) import agorakit (fresh process)", f"{seconds:.3f} s", "< 0.3 s", seconds < 0.3)
    row("(c) from agorakit import Agent, tool", f"{agent_seconds:.3f} s", "", None)
    row("(d) trace events written per second", f"{rate:,.0f}", "", None)
    trace_cost = turn_on - turn_off
    row("trace cost per turn", f"{trace_cost:.1f} µs", "", None)
    if args.embedded:
        turn_ms = asyncio.run(embedded_turn_ms())
        share = trace_cost / (turn_ms * 1e3) * 100
        row("embedded model turn (gemma-3-270m)", f"{turn_ms:.0f} ms", "", None)
        row("trace cost as share of an embedded turn", f"{share:.3f} %", "< 5 %", share < 5)
    Console().print(table)


if __name__ == "__main__":
    main()
