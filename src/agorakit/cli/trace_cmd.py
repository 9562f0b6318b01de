"""``agora trace``: list, show and export recorded runs.

Errors are raised as :class:`agorakit.core.errors.ConfigError`; the main CLI
turns them into one red line and a non-zero exit.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agorakit.cli.render import run_tree, runs_table
from agorakit.cli.tables import print_table
from agorakit.core.errors import ConfigError
from agorakit.core.settings import trace_db_path
from agorakit.trace.export import export_jsonl
from agorakit.trace.reader import list_runs, load_run

app = typer.Typer(name="trace", help="Inspect recorded runs: list, show, export.", no_args_is_help=True)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Trace database (default: $AGORAKIT_TRACE_DB, else traces.db in $AGORAKIT_HOME, "
        "which is ~/.agorakit unless set).",
        dir_okay=False,
    ),
]
RunIdArgument = Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or `last`.")]


def _db(path: Path | None) -> Path:
    return path if path is not None else trace_db_path()


def _console() -> Console:
    return Console(highlight=False)


@app.command("list")
def list_command(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show.")] = 20,
    db: DbOption = None,
) -> None:
    """List the most recent runs, newest first."""
    runs = list_runs(_db(db), limit=limit)
    console = _console()
    if not runs:
        console.print("no runs recorded yet; run `agora run` first")
        return
    print_table(console, runs_table(runs))


@app.command("show")
def show_command(
    run_id: RunIdArgument,
    db: DbOption = None,
    content: Annotated[
        bool, typer.Option("--content/--no-content", help="Also show the task, the answer and the messages.")
    ] = False,
) -> None:
    """Show one run as a tree of spans."""
    trace = load_run(_db(db), run_id)
    _console().print(run_tree(trace, content=content))


@app.command("export")
def export_command(
    run_id: RunIdArgument,
    db: DbOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export one run as JSON Lines (spans and events in time order)."""
    trace = load_run(_db(db), run_id)
    if output is None:
        export_jsonl(trace, sys.stdout)
        return
    try:
        with output.open("w", encoding="utf-8") as out:
            count = export_jsonl(trace, out)
    except OSError as error:
        raise ConfigError(f"cannot write {output}: {error.strerror or error}") from error
    Console(stderr=True, highlight=False).print(f"wrote {count} records of run {trace.run_id} to {output}")
