"""Framework overhead, measured against the budgets in DESIGN.md.

    PYTHONPATH=src .venv/bin/python bench/overhead.py [--baseline OLD/src] [--embedded]

(a) the peers' group chat (``../shared/peers``): GroupChat(round_robin) of 4
    Agents, 400 turns, each turn shown the whole shared conversation
    (``view_for``): microseconds per turn.
(b) the peers' tool calls: one Agent with ``tools=[tool(add)]`` (a plain sync
    function), 200 sequential calls then an answer: microseconds per call.
(c) ``import agorakit`` in a fresh interpreter: seconds (median).
(d) trace events written to SQLite per second, through the batching writer.

(a) and (b) run as the peers' agorakit adapter does: an instant model, default
settings (tracing on into a SQLite store at ``$AGORAKIT_TRACE_DB``, a fresh
temporary file, flushed inside the timed run; arguments validated; every tool
call through the policy gate), and again with ``trace=False``. Each cell runs
in fresh processes: "cold" is the first run in a process (what the peers'
table leads with), "warm" the best later run. ``--baseline`` also measures
another source tree (e.g. ``git archive HEAD src``) in the same session,
interleaved, and prints the ratios. With ``--embedded``, also one turn of the
embedded model, to put the trace's cost per turn in proportion (budget: under
5% of a turn).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

TURNS = 400
TOOL_CALLS = 200
PROCESSES = 3  # fresh processes per cell; cold = median of their first runs
WARM_RUNS = 5  # later runs per process; warm = best of all of them
EVENTS = 100_000
AGENT_NAMES = [f"agent_{i}" for i in range(4)]
TASK = "Discuss how to reduce the latency of our nightly data pipeline."
SYSTEM_PROMPT = "You are a helpful participant in a group discussion. Keep replies short."
TOOL_TASK = "Add up the numbers using the add tool, one call per step."
REPLY = (
    "I agree with the previous point and would add that we should validate "
    "the assumptions against the latest measurements before committing to a "
    "plan, then summarize the trade-offs clearly so the next speaker can "
    "build on them without repeating work."
)
FINAL_ANSWER = "All additions are done; the running total has been reported above."
SRC = Path(__file__).resolve().parent.parent / "src"


def add(a: int, b: int) -> int:
    """Add two integers and return the sum."""
    return a + b


# -- the workloads, as ../shared/peers/frameworks/agorakit.py runs them ---------


def _workloads(trace: bool | None) -> tuple[Any, Any]:
    """(run_groupchat, run_toolcalls) for ``trace`` (None = the default: on)."""
    import asyncio

    from agorakit import Agent, tool
    from agorakit.core import settings
    from agorakit.core.messages import Message, ToolCall
    from agorakit.core.usage import Usage
    from agorakit.methods.topology import GroupChat
    from agorakit.models.base import Completion, ModelRequest, StreamChunk

    class InstantModel:
        """Answers at once, keeps nothing: only the framework is timed."""

        provider = "scripted"
        model_name = "instant"
        uri = "scripted:instant"
        queue_key = uri
        hosted = False

        def __init__(self, respond: Any, counter: list[int]) -> None:
            self.respond = respond
            self.counter = counter

        async def complete(self, request: ModelRequest) -> Completion:
            self.counter[0] += 1
            self.counter[1] = len(request.messages)
            return Completion(self.respond(request), Usage(1, 10, 1), "stop", self.model_name)

        async def stream(self, request: ModelRequest) -> Any:
            yield StreamChunk(completion=await self.complete(request))

    def flush() -> None:
        if trace is False or not settings.tracing_enabled():
            return
        from agorakit.trace.store import open_store

        assert open_store(settings.trace_db_path()).flush(timeout=120), "trace store did not flush"

    def run_groupchat(turns: int) -> None:
        counter = [0, 0]
        agents = [
            Agent(
                name,
                InstantModel(lambda request: Message("assistant", REPLY), counter),
                instructions=SYSTEM_PROMPT,
                trace=trace,
            )
            for name in AGENT_NAMES
        ]
        chat = GroupChat(agents, speaker="round_robin", max_turns=turns, terminate_on=None)
        chat.trace = trace
        out = asyncio.run(chat.run(TASK))
        flush()
        assert len(out.messages) == turns + 1 and counter[0] == turns and counter[1] >= turns, counter
        assert all(m.name == AGENT_NAMES[(k - 1) % 4] and m.content == REPLY for k, m in enumerate(out.messages) if k)

    def run_toolcalls(n: int) -> None:
        counter = [0, 0]
        step = 0

        def respond(request: ModelRequest) -> Message:
            nonlocal step
            step += 1
            if step <= n:
                return Message("assistant", None, [ToolCall(f"call_{step}", "add", {"a": step, "b": 1})])
            return Message("assistant", FINAL_ANSWER)

        agent = Agent(
            "calc",
            InstantModel(respond, counter),
            instructions=SYSTEM_PROMPT,
            tools=[tool(add)],
            max_steps=n + 1,
            trace=trace,
        )
        out = asyncio.run(agent.run(TOOL_TASK))
        flush()
        tools = [m for m in out.messages if m.role == "tool"]
        assert out.output == FINAL_ANSWER and counter[0] == n + 1 and len(out.messages) == 2 * n + 3
        assert tools[0].content == "2" and tools[-1].content == str(n + 1)

    return run_groupchat, run_toolcalls


def worker(kind: str, trace: bool | None) -> dict[str, float]:
    """One process's measurements of one cell (the caller made it fresh)."""
    if kind == "events":
        return {"rate": events_per_second()}
    run_groupchat, run_toolcalls = _workloads(trace)
    run, size = (run_groupchat, TURNS) if kind == "groupchat" else (run_toolcalls, TOOL_CALLS)
    times = []
    for _ in range(1 + WARM_RUNS):
        started = time.perf_counter()
        run(size)
        times.append((time.perf_counter() - started) / size * 1e6)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"cold": times[0], "warm": min(times[1:]), "rss": rss}


def events_per_second() -> float:
    from agorakit.trace.store import TraceStore
    from agorakit.trace.tracer import Tracer

    best = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(3):
            store = TraceStore(Path(tmp) / f"events{i}.db")
            tracer = Tracer("bench", store)
            started = time.perf_counter()
            for n in range(EVENTS):
                tracer.event("gen_ai.assistant.message", {"agorakit.author": "a", "i": n})
            assert store.flush(timeout=120)
            best = max(best, EVENTS / (time.perf_counter() - started))
            store.close()
    return best


# -- the driver -----------------------------------------------------------------


def _spawn(src: Path, *args: str, trace_db: str | None = None) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("AGORAKIT_TRACE", None)
    if trace_db is not None:
        env["AGORAKIT_TRACE_DB"] = trace_db
    out = subprocess.run(
        [sys.executable, __file__, "--worker", *args], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def import_time(src: Path, statement: str = "import agorakit", runs: int = 7) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = f"import time; t=time.perf_counter(); {statement}; print(time.perf_counter()-t)"
    times = [
        float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(times)


def measure(sources: dict[str, Path]) -> dict[str, dict[str, dict[str, float]]]:
    """{version: {cell: {"cold", "warm", "rss"}}}, processes interleaved across versions."""
    cells = [(kind, trace) for kind in ("groupchat", "toolcalls") for trace in ("on", "off")]
    raw: dict[str, dict[str, list[dict[str, float]]]] = {v: {} for v in sources}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(PROCESSES):
            for kind, trace in cells:
                for version, src in sources.items():
                    db = str(Path(tmp) / f"{version}-{kind}-{round_}.db")
                    raw[version].setdefault(f"{kind} {trace}", []).append(_spawn(src, kind, trace, trace_db=db))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for version, by_cell in raw.items():
        out[version] = {
            cell: {
                "cold": statistics.median(r["cold"] for r in runs),
                "warm": min(r["warm"] for r in runs),
                "rss": max(r["rss"] for r in runs),
            }
            for cell, runs in by_cell.items()
        }
        out[version]["events"] = {"rate": _spawn(sources[version], "events", "on")["rate"]}
        out[version]["import"] = {"s": import_time(sources[version])}
        out[version]["import_agent"] = {"s": import_time(sources[version], "from agorakit import Agent, tool", 5)}
    return out


def embedded_turn_ms() -> float:
    import asyncio

    from agorakit import Agent
    from agorakit.models.base import Sampling

    async def turn() -> float:
        agent = Agent(
            "bench",
            "llamacpp:gemma-3-270m",
            instructions="Answer briefly.",
            trace=False,
            sampling=Sampling(max_tokens=64),
        )
        await agent.run("Say hello.")  # load and warm up
        started = time.perf_counter()
        await agent.run("What is the capital of France?")
        return (time.perf_counter() - started) * 1e3

    return asyncio.run(turn())


# Budgets: 1/10 of the fastest peer (../shared/peers/RESULTS.md, cold: langgraph 989 µs/turn, autogen 1174 µs/call).
BUDGETS = {"groupchat": 99.0, "toolcalls": 117.0}


def render(results: dict[str, dict[str, dict[str, float]]], embedded_ms: float | None) -> Table:
    versions = list(results)
    now = versions[-1]
    table = Table(title="agorakit overhead (bench/overhead.py)", title_justify="left")
    table.add_column("measure")
    for version in versions:
        table.add_column(version, justify="right")
    if len(versions) > 1:
        table.add_column(f"{now}/{versions[0]}", justify="right")
    table.add_column("budget", justify="right")

    def row(name: str, values: list[float], fmt: str, budget: str = "") -> None:
        cells = [format(v, fmt) for v in values]
        if len(values) > 1:
            cells.append(f"{values[-1] / values[0]:.2f}x" if values[0] else "")
        table.add_row(name, *cells, budget)

    labels = {"groupchat": "(a) µs/turn, group chat", "toolcalls": "(b) µs/call, tool calls"}
    for kind in ("groupchat", "toolcalls"):
        for trace in ("on", "off"):
            cell = f"{kind} {trace}"
            suffix = "trace on (default)" if trace == "on" else "trace off"
            budget = f"<= {BUDGETS[kind]:.0f}" if trace == "on" else ""
            row(f"{labels[kind]}, {suffix}, cold", [results[v][cell]["cold"] for v in versions], ".1f", budget)
            row(f"{labels[kind]}, {suffix}, warm", [results[v][cell]["warm"] for v in versions], ".1f")
    row("peak RSS MB (max over cells)", [max(c.get("rss", 0) for c in results[v].values()) for v in versions], ".1f")
    row("(c) import agorakit, s", [results[v]["import"]["s"] for v in versions], ".3f", "< 0.3")
    row("(c) from agorakit import Agent, tool, s", [results[v]["import_agent"]["s"] for v in versions], ".3f")
    row("(d) trace events written per second", [results[v]["events"]["rate"] for v in versions], ",.0f")
    cost = [results[v]["groupchat on"]["warm"] - results[v]["groupchat off"]["warm"] for v in versions]
    row("trace cost per group-chat turn, µs (warm)", cost, ".1f")
    if embedded_ms is not None:
        share = cost[-1] / (embedded_ms * 1e3) * 100
        table.add_row("embedded model turn (gemma-3-270m), ms", *[""] * (len(versions) - 1), f"{embedded_ms:.0f}")
        table.add_row("trace cost as share of an embedded turn", *[""] * (len(versions) - 1), f"{share:.3f} %")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="another src/ tree to measure side by side (e.g. HEAD's)")
    parser.add_argument("--embedded", action="store_true", help="also time one embedded-model turn")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "TRACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, trace = args.worker
        print(json.dumps(worker(kind, None if trace == "on" else False)))
        return
    sources = {"before": args.baseline.resolve()} if args.baseline else {}
    sources["now"] = SRC
    results = measure(sources)
    Console().print(render(results, embedded_turn_ms() if args.embedded else None))


if __name__ == "__main__":
    main()
