"""``agora resume``: finish a journaled run that stopped (``agora run --durability ...``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from agorakit.core import settings


def resume(
    run_id: Annotated[str, typer.Argument(help="The run to finish (its id, as `agora run` printed it).")],
    force: Annotated[
        bool, typer.Option("--force", help="Go on even though the model or agent differs from the run's.")
    ] = False,
    confirm: Annotated[
        list[str] | None,
        typer.Option(
            "--confirm",
            metavar="CALL_ID",
            help="Run this side-effecting tool call again, though it may have taken effect (repeatable).",
        ),
    ] = None,
) -> None:
    """Resume a journaled run: recorded model replies and tool results are replayed (never sent
    or run again) and the run goes on from its first unrecorded step.

    Exit status as for `agora run`: 0 an answer, 3 none (including a run that stops before a
    side-effecting call needing --confirm), 1 an error such as an unknown run.
    """
    from agorakit.cli.run_cmd import default_agent, show_result
    from agorakit.trace.journal_store import JournalStore

    console = Console(soft_wrap=True)
    store = JournalStore(settings.journal_db_path(), full_sync=False)
    try:
        row = store.run(run_id)
    finally:
        store.close()
    if row is None:
        console.print(f"[red]error:[/red] run {run_id} has no journal in {settings.journal_db_path()}")
        console.print("only runs started with --durability (or durability=... in Python) can be resumed")
        raise typer.Exit(1)
    origin = row.input.get("origin")
    if row.kind != "agent" or not isinstance(origin, dict):
        console.print(
            f"[red]error:[/red] run {run_id} ({row.kind} {row.name!r}) was started from Python code, which the "
            f"journal cannot rebuild; resume it there: {row.name}.resume({run_id!r})"
        )
        raise typer.Exit(1)
    if row.status not in ("running", "needs_confirmation"):
        console.print(f"[dim]run {run_id} had finished ({row.status}); its result, replayed from the journal:[/dim]")
    options = dict(origin)
    model = str(options.pop("model"))
    agent = default_agent(model, **options)
    with console.status(f"Resuming {run_id} on {model} …", spinner="dots"):
        result = asyncio.run(agent.resume(run_id, force=force, confirm=confirm or ()))
    if result.error is not None and result.stop_reason == "needs_confirmation":
        console.print(f"[yellow]{result.error.message}[/yellow]", highlight=False)
        console.print(f"[dim]{result.error.hint}[/dim]", highlight=False)
    show_result(console, result, trace=bool(options.get("trace", True)))
