"""The trace writer's CPU per run as traces.db grows, for this tree and, with ``--baseline``, an older one.

Each run is the records a served instant agent writes (three spans, three
events, as ``agora serve`` writes them for one chat completion), committed 100
runs a batch as the writer thread commits them under load. The writer's time
is what tracing costs beside the run: on a small machine it competes with the
event loop for a core. Each tree writes its own database, in its own process.

    PYTHONPATH=src .venv/bin/python bench/trace_store.py [--runs 200000] [--baseline OLD/src]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Run in a process of its own per tree: prints one JSON line per measured step, {"runs": n, "us_per_run": x}.
WRITER = r"""
import json, sys, tempfile, time
from pathlib import Path
from agorakit.core.ids import new_run_id, new_span_id
from agorakit.trace.store import TraceStore, connect

total, steps, batch = int(sys.argv[1]), int(sys.argv[2]), 100
agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "instant", "gen_ai.request.model": "scripted",
         "gen_ai.provider.name": "scripted", "agorakit.input": "What is 2 + 2?", "agorakit.stop_reason": "final_answer",
         "gen_ai.usage.input_tokens": 6, "gen_ai.usage.output_tokens": 4}
turn = {"gen_ai.operation.name": "agent_turn", "agorakit.step": 1}
chat = {**agent, "gen_ai.operation.name": "chat", "agorakit.stream": True, "gen_ai.response.finish_reasons": ["stop"]}

def message(role, text):
    return {"agorakit.message": {"role": role, "content": text}}

def one_run():
    run, root, step, call, now = new_run_id(), new_span_id(), new_span_id(), new_span_id(), time.time_ns()
    return [
        ("span_start", run, root, None, "invoke_agent instant", now, {}),
        ("event", run, root, now, "gen_ai.system.message", message("system", "Answer.")),
        ("event", run, root, now, "gen_ai.user.message", message("user", "What is 2 + 2?")),
        ("span_start", run, step, root, "agent_turn 1", now, {}),
        ("span_start", run, call, step, "chat scripted", now, {}),
        ("span_end", run, call, now, "ok", chat),
        ("event", run, step, now, "gen_ai.assistant.message", message("assistant", "four words of answer")),
        ("span_end", run, step, now, "ok", turn),
        ("span_end", run, root, now, "ok", agent),
    ]

store = TraceStore(Path(tempfile.mkdtemp(prefix="agorakit-trace-bench-")) / "traces.db")
store.close()  # its writer thread stops: the batches are committed here, on this thread, and timed
conn = connect(store.path)
written, measure_every = 0, total // steps
while written < total:
    spent = 0.0
    for _ in range(measure_every // batch):
        records = [record for _ in range(batch) for record in one_run()]
        started = time.thread_time()
        store._commit(conn, records)
        spent += time.thread_time() - started
    written += measure_every
    print(json.dumps({"runs": written, "us_per_run": spent / measure_every * 1e6}), flush=True)
"""


def measure(src: Path, runs: int, steps: int) -> list[dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    command = [sys.executable, "-c", WRITER, str(runs), str(steps)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the writer for {src} failed:\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200_000, help="runs written to each database")
    parser.add_argument("--steps", type=int, default=8, help="how many times along the way the cost is measured")
    parser.add_argument("--baseline", type=Path, help="an older src/ tree, measured the same way")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent / "src"
    now = measure(here, args.runs, args.steps)
    old = measure(args.baseline, args.runs, args.steps) if args.baseline is not None else None
    table = Table(title="trace writer CPU per run (3 spans, 3 events), committed 100 runs a batch")
    for column in ["runs in traces.db", "µs per run"] + (["baseline µs per run", "now/baseline"] if old else []):
        table.add_column(column, justify="right")
    for index, step in enumerate(now):
        row = [f"{step['runs']:,.0f}", f"{step['us_per_run']:.1f}"]
        if old:
            row += [f"{old[index]['us_per_run']:.1f}", f"{step['us_per_run'] / old[index]['us_per_run']:.2f}x"]
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
