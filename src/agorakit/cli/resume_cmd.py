"""``agora resume`` and ``agora approve``: finish a journaled run that stopped, or decide on the
tool call a paused one waits for (``agora run --durability ...``)."""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from agorakit.core import settings

if TYPE_CHECKING:
    from agorakit.agents import Agent
    from agorakit.trace.journal_store import RunRow


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
    side-effecting call needing --confirm, or pauses for approval), 1 an error such as an unknown run.
    """
    console = Console(soft_wrap=True)
    row = _journaled(console, run_id)
    if row.status not in ("running", "needs_confirmation", "awaiting_approval"):
        console.print(f"[dim]run {run_id} had finished ({row.status}); its result, replayed from the journal:[/dim]")
    _finish(console, row, force=force, confirm=confirm or ())


def approve(
    run_id: Annotated[str, typer.Argument(help="The paused run (stop reason awaiting_approval).")],
    deny: Annotated[bool, typer.Option("--deny", help="Deny the call: the run ends, the denial in its trace.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve without asking.")] = False,
    call: Annotated[
        str | None, typer.Option("--call", metavar="CALL_ID", help="The call to decide on, when several wait.")
    ] = None,
    resume_run: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Resume the run once decided (runs of `agora run`).")
    ] = True,
) -> None:
    """Show the tool call a paused durable run waits for (tool, arguments, the policy's reason),
    record your decision, and resume the run.

    Without --yes or --deny the decision is asked on the terminal. Exit status as for `agora run`
    when the run is resumed; 0 when the decision is only recorded; 1 for an error.
    """
    from agorakit.kernel.journal import decide, pending_approvals

    console = Console(soft_wrap=True)
    row = _journaled(console, run_id)
    waiting = [item for item in pending_approvals(run_id) if call is None or item["call"]["id"] == call]
    if not waiting:
        console.print(f"[red]error:[/red] run {run_id} has no tool call waiting for approval"
                      + (f" with id {call}" if call else ""))  # fmt: skip
        raise typer.Exit(1)
    if len(waiting) > 1:
        ids = ", ".join(item["call"]["id"] for item in waiting)
        console.print(f"[red]error:[/red] {len(waiting)} calls wait ({ids}); name one with --call")
        raise typer.Exit(1)
    pending = waiting[0]
    arguments = json.dumps(pending["arguments"], ensure_ascii=False)
    console.print(
        f"run {run_id} waits to call [bold]{escape(pending['tool'])}[/bold] [dim](id {pending['call']['id']})[/dim]"
    )
    console.print(f"  arguments: {escape(arguments)}", highlight=False)
    console.print(f"  the policy asks because: {escape(pending['reason'])}", highlight=False)
    approved = not deny
    if not deny and not yes:
        if not sys.stdin.isatty():
            console.print("[red]error:[/red] no terminal to ask on: pass --yes to approve or --deny to deny")
            raise typer.Exit(1)
        from rich.prompt import Confirm

        approved = Confirm.ask("Allow this call?", default=False, console=console)
    by = f"agora approve ({getpass.getuser()}@{socket.gethostname()})"
    decide(run_id, approved=approved, call_id=pending["call"]["id"], by=by)
    console.print(f"{'approved' if approved else 'denied'}: {escape(pending['tool'])} (recorded by {escape(by)})")
    if not resume_run:
        console.print(f"[dim]resume it with: agora resume {run_id}[/dim]")
        return
    _finish(console, row, force=False, confirm=())


def _journaled(console: Console, run_id: str) -> RunRow:
    from agorakit.trace.journal_store import JournalStore

    store = JournalStore(settings.journal_db_path(), full_sync=False)
    try:
        row = store.run(run_id)
    finally:
        store.close()
    if row is None:
        console.print(f"[red]error:[/red] run {run_id} has no journal in {settings.journal_db_path()}")
        console.print("only runs started with --durability (or durability=... in Python) can be resumed")
        raise typer.Exit(1)
    return row


def _finish(console: Console, row: RunRow, *, force: bool, confirm: Sequence[str]) -> None:
    from agorakit.cli.run_cmd import show_result

    if row.kind == "method" and isinstance(row.input.get("origin"), dict):
        from agorakit.cli.methods_cmd import build_method, show_method_result

        options = dict(row.input["origin"])
        runner = build_method(console, **options)
        with console.status(f"Resuming {row.run_id} …", spinner="dots"):
            finished = asyncio.run(runner.resume(row.run_id, force=force))
        code = show_method_result(console, finished, trace=bool(options.get("trace", True)))
        if code:
            raise typer.Exit(code)
        return
    agent, options = _rebuild(console, row)
    with console.status(f"Resuming {row.run_id} …", spinner="dots"):
        result = asyncio.run(agent.resume(row.run_id, force=force, confirm=confirm))
    show_result(console, result, trace=bool(options.get("trace", True)))


def _rebuild(console: Console, row: RunRow) -> tuple[Agent, dict[str, Any]]:
    """The agent `agora run` ran, from the options its journal kept."""
    from agorakit.cli.run_cmd import default_agent

    origin = row.input.get("origin")
    if row.kind != "agent" or not isinstance(origin, dict):
        console.print(
            f"[red]error:[/red] run {row.run_id} ({row.kind} {row.name!r}) was started from Python code, which the "
            f"journal cannot rebuild; resume it there: {row.name}.resume({row.run_id!r})"
        )
        raise typer.Exit(1)
    options = dict(origin)
    model = str(options.pop("model"))
    return default_agent(model, **options), options
