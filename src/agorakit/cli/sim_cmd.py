"""``agora sim SCENARIO``: simulate many agents, with a progress bar and a results file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from agorakit.core.errors import AgorakitError

SCENARIO_HELP = "A built-in scenario (guess-two-thirds, spread)."


def sim(
    scenario: Annotated[str, typer.Argument(help=SCENARIO_HELP)],
    agents: Annotated[int, typer.Option("--agents", min=1, help="Agents in the simulation.")] = 100,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Rounds to run.")] = 5,
    model: Annotated[
        str,
        typer.Option("--model", help="A model URI, or 'instant' for the scenario's own seeded replies (no model)."),
    ] = "instant",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the world and of the instant replies.")] = 0,
    group_size: Annotated[int, typer.Option("--group-size", min=1, help="Agents packed into one group.")] = 1000,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Model calls in flight at once in each group.")
    ] = 1,
    memory: Annotated[int, typer.Option("--memory", min=0, help="Past exchanges each agent keeps.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="The results file (JSON lines; default sim-SCENARIO-RUN.jsonl)."),
    ] = None,
    trace: Annotated[bool, typer.Option("--trace/--no-trace", help="Write the run to the trace store.")] = True,
    engine: Annotated[
        str, typer.Option("--engine", help="inprocess, or ray: the groups on Ray actors (pip install 'agorakit[ray]').")
    ] = "inprocess",
    address: Annotated[
        str | None, typer.Option("--address", help="With --engine ray: a cluster (host:port), else a local one.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="With --engine ray: actors to spread the groups over.")
    ] = None,
    advance: Annotated[
        str,
        typer.Option(
            "--advance",
            help="lockstep (each round waits for the last), or ready: each agent's turn waits only for "
            "those it hears from (spread).",
        ),
    ] = "lockstep",
) -> None:
    """Simulate AGENTS agents over ROUNDS rounds of SCENARIO: one line of results per round."""
    from agorakit.cli.bench_cmd import progress_bar
    from agorakit.core.errors import AgorakitError
    from agorakit.core.ids import new_run_id
    from agorakit.sim import Simulation
    from agorakit.sim.scenarios import SCENARIOS

    console = Console(stderr=True)
    if engine not in ("inprocess", "ray"):
        console.print(f"[red]error:[/red] no engine named {engine!r}: use inprocess or ray")
        raise typer.Exit(2)
    if advance not in ("lockstep", "ready"):
        console.print(f"[red]error:[/red] rounds cannot advance {advance!r}: use lockstep or ready")
        raise typer.Exit(2)
    if scenario not in SCENARIOS:
        console.print(f"[red]error:[/red] no scenario named {scenario!r}")
        console.print(f"[dim]the built-in scenarios: {', '.join(sorted(SCENARIOS))}[/dim]")
        raise typer.Exit(2)
    try:
        simulation = Simulation(
            SCENARIOS[scenario](),
            agents=agents,
            rounds=rounds,
            model=model,
            seed=seed,
            group_size=group_size,
            concurrency=concurrency,
            memory=memory,
            trace=None if trace else False,
            engine="ray" if engine == "ray" else "inprocess",
            address=address,
            workers=workers,
            advance="ready" if advance == "ready" else "lockstep",
        )
    except AgorakitError as error:
        _fail(console, error)
    run_id = new_run_id()
    path = out or Path(f"sim-{scenario}-{run_id}.jsonl")
    head = {"scenario": scenario, "agents": agents, "rounds": rounds, "model": model, "seed": seed, "run_id": run_id,
            "engine": engine, "advance": advance}  # fmt: skip
    try:
        with path.open("w", encoding="utf-8") as results, progress_bar(console, "rounds") as progress:
            task = progress.add_task(f"{scenario}, {agents:,} agents", total=rounds, status="")
            results.write(json.dumps(head) + "\n")

            def report(row: dict[str, Any]) -> None:
                results.write(json.dumps(row) + "\n")
                results.flush()  # a run cut short keeps the rounds it finished
                progress.update(task, advance=1, status=_status(row))

            result = asyncio.run(simulation.run(progress=report, run_id=run_id))
            results.write(json.dumps({"summary": result.summary, "seconds": round(result.seconds, 3)}) + "\n")
    except AgorakitError as error:
        _fail(console, error)
    steps = result.steps
    console.print(
        f"{steps:,} agent-steps in {result.seconds:.1f} s ({steps / max(result.seconds, 1e-9):,.0f}/s), "
        f"{result.usage.calls:,} model calls; results in {path}; trace: agora trace show {run_id}"
    )


def _fail(console: Console, error: AgorakitError) -> NoReturn:
    console.print(f"[red]error:[/red] {error.message}")
    if error.hint:
        console.print(f"[dim]{error.hint}[/dim]")
    raise typer.Exit(1) from None


def _status(row: dict[str, Any]) -> str:
    shown = {k: v for k, v in row.items() if k not in ("round", "seconds") and not isinstance(v, list | dict)}
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in list(shown.items())[:4])
