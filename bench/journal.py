"""What journaling a durable run costs, per model call and per tool call, for each durability mode.

    PYTHONPATH=src .venv/bin/python bench/journal.py [--calls 200] [--repeats 5]

The workload is the peers' tool-call run (as in bench/overhead.py (b)): one
agent on an instant scripted model, ``--calls`` sequential calls of ``add``,
then an answer; tracing on into a fresh SQLite store, as users run it. Each
mode runs ``--repeats`` times in this process, interleaved with the others;
the best run counts. Two tools: ``add`` as it is (pure, so idempotent: no
record before it runs) and the same function declared side-effecting
(``idempotent=False``: its start is committed before it runs, in every mode).

Columns: µs per step (one model call and one tool call) end to end; the extra
over the same run without a journal; and the time spent inside the journal's
own methods per model call (key, lookup, record) and per tool call. The
journal file sits in a temporary folder on the same disk as ``$TMPDIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agorakit import Agent, tool
from agorakit.core.messages import ToolCall
from agorakit.kernel import journal as journal_module
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import ScriptedModel

MODES: list[str | None] = [None, "exit", "async", "sync"]
MODEL_SIDE = ("completion_key", "recorded_completion", "record_completion")
TOOL_SIDE = ("tool_key", "recorded_tool", "tool_started", "tool_finished")


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def responder(calls: int) -> Callable[[ModelRequest], Any]:
    def respond(request: ModelRequest) -> Any:
        done = sum(1 for m in request.messages if m.role == "tool")
        if done < calls:
            return ToolCall(f"call-{done}", "add", {"a": done, "b": 1})
        return "All additions are done."

    return respond


class Timers:
    """Time spent inside the journal's methods, by side (patched in for the measured runs)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        cls = journal_module.RunJournal
        for name in (*MODEL_SIDE, *TOOL_SIDE):
            setattr(cls, name, self._timed(getattr(cls, name), "model" if name in MODEL_SIDE else "tool"))

    def _timed(self, method: Callable[..., Any], side: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[side] += time.perf_counter() - started

        return timed


async def one_run(mode: str | None, side_effects: bool, calls: int, folder: Path, serial: int) -> float:
    adder = tool(idempotent=False)(add) if side_effects else tool(add)
    agent = Agent("adder", ScriptedModel(responder(calls)), tools=[adder], max_steps=calls + 2, loop_limit=calls + 2)
    started = time.perf_counter()
    if mode is None:  # "off": a side-effecting agent is journaled "sync" by default
        result = await agent.run("Add up the numbers.", durability="off")
    else:
        result = await agent.run("Add up the numbers.", durability=mode, run_id=f"bench-{serial}")  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    assert result.stop_reason == "final_answer", result.stop_reason
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="agorakit-journal-bench-"))
    os.environ["AGORAKIT_TRACE_DB"] = str(folder / "traces.db")
    os.environ["AGORAKIT_JOURNAL_DB"] = str(folder / "journal.db")
    timers = Timers()
    cells = [(mode, side) for side in (False, True) for mode in MODES]
    best: dict[tuple[str | None, bool], float] = {}
    inside: dict[tuple[str | None, bool], dict[str, float]] = {}
    serial = 0
    asyncio.run(one_run(None, False, 5, folder, -1))  # warm the imports and the trace store
    for _ in range(args.repeats):
        for cell in cells:
            serial += 1
            timers.seconds.clear()
            elapsed = asyncio.run(one_run(*cell, args.calls, folder, serial))
            if elapsed < best.get(cell, float("inf")):
                best[cell] = elapsed
                inside[cell] = dict(timers.seconds)
    steps = args.calls + 1
    table = Table(title=f"journal cost, {args.calls} tool calls + 1 answer per run, best of {args.repeats}, tracing on")
    for column in ("tool", "durability", "µs/step", "extra µs/step", "journal µs/model call", "journal µs/tool call"):
        table.add_column(column, justify="left" if column in ("tool", "durability") else "right")
    for side in (False, True):
        base = best[(None, side)] / steps * 1e6
        for mode in MODES:
            per_step = best[(mode, side)] / steps * 1e6
            spent = inside[(mode, side)]
            table.add_row(
                "side-effecting" if side else "pure (idempotent)",
                mode or "none (no journal)",
                f"{per_step:.0f}",
                "" if mode is None else f"{per_step - base:+.0f}",
                "" if mode is None else f"{spent.get('model', 0.0) / steps * 1e6:.0f}",
                "" if mode is None else f"{spent.get('tool', 0.0) / args.calls * 1e6:.0f}",
            )
    Console(width=130).print(table)
    print(f"journal and trace files in {folder} (filesystem of $TMPDIR)")


if __name__ == "__main__":
    main()
