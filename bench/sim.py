"""Simulations at scale: agent-steps per second and memory per agent, in process and on Ray.

Each cell is guess-two-thirds with the instant model (every step a real call
through the kernel, traced into a fresh SQLite store in process, the time
including the trace's last writes), run in a
fresh process so that its peak memory is its own: 10^3, 10^4 and 10^5 agents
for 10 rounds, in process and on a local Ray (one worker per CPU, started for
the cell and not timed). On Ray, memory is the driver's peak plus the largest
total seen across the workers. ``--embedded N`` adds the time of a round of N
agents on the embedded model through the local engine, and what it makes of a
round of 10^4.

    PYTHONPATH=src .venv/bin/python bench/sim.py [--agents 1000,10000,100000] [--rounds 10] [--embedded 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

CELL = r"""
import asyncio, json, os, resource, sys, threading, time
from pathlib import Path
from typing import Any
from agorakit.sim import Simulation
from agorakit.sim.scenarios import GuessTwoThirds

agents, rounds, engine, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
group_size = int(sys.argv[5])
workers_peak = [0]

def watch_workers(stop):
    # The Ray workers' resident memory, summed, at its highest while the cell runs.
    while not stop.is_set():
        total = 0
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::GroupWorker"):
                    fields = (entry / "statm").read_text().split()
                    total += int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                continue
        workers_peak[0] = max(workers_peak[0], total)
        stop.wait(0.25)

stop = threading.Event()
watcher = threading.Thread(target=watch_workers, args=(stop,), daemon=True)
if engine == "ray":
    watcher.start()
sim = Simulation(GuessTwoThirds(), agents=agents, rounds=rounds, model=model, engine=engine, group_size=group_size,
                 concurrency=1 if model == "instant" else 16)
result = asyncio.run(sim.run())
stop.set()
driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
per_round = [r["seconds"] for r in result.rounds]
failed = sum(r["failed"] for r in result.rounds)
print(json.dumps({"steps": result.steps, "seconds": result.seconds, "driver": driver, "workers": workers_peak[0],
                  "per_round": per_round, "calls": result.usage.calls, "failed": failed}))
"""


def run_cell(agents: int, rounds: int, engine: str, model: str, group_size: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="agorakit-sim-bench-"))
    env = {**os.environ, "AGORAKIT_HOME": str(home), "AGORAKIT_TRACE_DB": str(home / "traces.db")}
    command = [sys.executable, "-c", CELL, str(agents), str(rounds), engine, model, str(group_size)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=4 * 3600)
    if done.returncode != 0:
        raise SystemExit(f"the cell {agents} agents on {engine} failed:\n{done.stderr[-3000:]}")
    cell: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="1000,10000,100000", help="agents per cell, comma-separated ('' for none)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--engines", default="inprocess,ray")
    parser.add_argument("--group-size", type=int, default=1000)
    parser.add_argument(
        "--embedded", type=int, default=0, metavar="AGENTS", help="also a round of AGENTS agents on the embedded model"
    )
    args = parser.parse_args()
    table = Table(title=f"guess-two-thirds, instant model, tracing on ({os.cpu_count()} cores)")
    for column in ("agents", "engine", "rounds", "agent-steps", "seconds", "agent-steps/s", "speed vs in process",
                   "peak memory MiB", "KiB per agent"):  # fmt: skip
        table.add_column(column, justify="right")
    for agents in (int(a) for a in args.agents.split(",") if a):
        in_process = None
        for engine in args.engines.split(","):
            cell = run_cell(agents, args.rounds, engine, "instant", args.group_size)
            rate = cell["steps"] / cell["seconds"]
            in_process = rate if engine == "inprocess" else in_process
            memory = cell["driver"] + cell["workers"]
            table.add_row(
                f"{agents:,}", engine, str(args.rounds), f"{int(cell['steps']):,}", f"{cell['seconds']:.1f}",
                f"{rate:,.0f}", f"{rate / in_process:.2f}x" if in_process and engine != "inprocess" else "",
                f"{memory / 2**20:,.0f}", f"{memory / agents / 1024:.1f}",
            )  # fmt: skip
    if table.row_count:
        Console(width=200).print(table)
    if args.embedded:
        agents = args.embedded
        cell = run_cell(agents, 1, "inprocess", "llamacpp:gemma-3-270m?engine=server", args.group_size)
        seconds, rate = cell["per_round"][0], cell["calls"] / cell["per_round"][0]
        Console().print(
            f"{agents:,} agents on the embedded model (the local engine, 16 calls in flight per group): "
            f"{seconds:.0f} s for the round, {rate:.2f} calls/s, {cell['failed']:,.0f} failed"
            + (
                ""
                if agents == 10_000
                else f"; at that rate a round of 10,000 agents takes {10_000 / rate / 60:.0f} min"
            )
        )


if __name__ == "__main__":
    main()
