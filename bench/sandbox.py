"""Code-sandbox latency: starting an interpreter and running blocks in it.

    .venv/bin/python bench/sandbox.py [--repeats N]

(a) ``detect_isolation()``: probing the strongest backend that works here;
(b) cold start: ``async with Sandbox(isolation=...)`` up to a ready interpreter
    (the process, namespaces, limits, the control handshake), and closing it;
(c) the same including the probe (``Sandbox()`` with nothing cached);
(d) a trivial block (``x = 1``) on a warm interpreter;
(e) a block that makes one tool call round trip (sandbox -> host dispatcher -> sandbox);
(f) a block that gets its interpreter killed (``os._exit``), including the restart.

Each figure is the best of N runs (the median is shown next to it), as timeit
reports; (d) and (e) take the best of N batches of 50 blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from rich.console import Console
from rich.table import Table

from agorakit.tools import ToolDispatcher, tool
from agorakit.tools.sandbox import Isolation, Sandbox, detect_isolation

BATCH = 50


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def timed(action: Callable[[], Awaitable[object]], repeats: int, per: int = 1) -> tuple[float, float]:
    """(best, median) seconds per action, over ``repeats`` runs of ``per`` actions each."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(per):
            await action()
        samples.append((time.perf_counter() - started) / per)
    return min(samples), statistics.median(samples)


async def measure(repeats: int) -> tuple[Isolation, list[tuple[str, float, float]]]:
    rows: list[tuple[str, float, float]] = []

    async def probe() -> None:
        await asyncio.to_thread(detect_isolation)

    rows.append(("(a) detect_isolation() probe", *await timed(probe, repeats)))
    isolation = detect_isolation()

    async def cold_start() -> None:
        async with Sandbox(isolation=isolation):
            pass

    async def cold_start_with_probe() -> None:
        async with Sandbox():
            pass

    rows.append(("(b) cold start: new interpreter, ready, closed", *await timed(cold_start, repeats)))
    rows.append(("(c) cold start including the probe", *await timed(cold_start_with_probe, repeats)))

    async with Sandbox(tools=ToolDispatcher([add]), isolation=isolation) as sandbox:
        for _ in range(20):  # warm-up
            await sandbox.exec("x = 1")
            await sandbox.exec("add(1, 2)")

        async def trivial() -> None:
            result = await sandbox.exec("x = 1")
            assert result.ok, result

        async def tool_call() -> None:
            result = await sandbox.exec("add(1, 2)")
            assert result.stdout == "'3'\n", result

        async def killed() -> None:
            result = await sandbox.exec("import os\nos._exit(0)")
            assert result.restarted, result

        rows.append(("(d) exec `x = 1`, warm interpreter", *await timed(trivial, repeats, BATCH)))
        rows.append(("(e) exec with one tool call round trip", *await timed(tool_call, repeats, BATCH)))
        rows.append(("(f) exec that kills the interpreter, with restart", *await timed(killed, repeats)))
    return isolation, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="runs per figure (default 10)")
    args = parser.parse_args()
    isolation, rows = asyncio.run(measure(args.repeats))
    table = Table(title=f"agorakit sandbox latency (bench/sandbox.py), best of {args.repeats}", title_justify="left")
    for column in ("measure", "best", "median"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, best, median in rows:
        table.add_row(name, _ms(best), _ms(median))
    console = Console()
    console.print(table)
    console.print(f"isolation: {isolation.summary()}")
    for note in isolation.notes:
        console.print(f"  note: {note}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


if __name__ == "__main__":
    main()
