"""``agora trace``: list, show and export recorded runs, or open one in the web viewer.

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

app = typer.Typer(name="trace", help="Inspect recorded runs: list, show, export, open.", no_args_is_help=True)

DEFAULT_URL = "http://127.0.0.1:8000"

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


def server_answers(base: str, timeout: float = 3.0) -> bool:
    """Whether an agorakit server answers ``GET /health`` at ``base``."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/health", timeout=timeout) as response:
            body = json.loads(response.read(4096) or b"{}")
    except (OSError, ValueError):  # no server, or not an agorakit one
        return False
    return isinstance(body, dict) and body.get("status") == "ok"


@app.command("open")
def open_command(
    run_id: RunIdArgument,
    url: Annotated[str, typer.Option("--url", help="The running `agora serve` to show it.")] = DEFAULT_URL,
) -> None:
    """Open one run's page in the web viewer of a running `agora serve`."""
    import webbrowser
    from urllib.parse import quote, urlsplit

    ref = run_id.strip()
    if not ref:
        raise ConfigError("empty run id", hint="pass a run id, a unique prefix of one, or `last`")
    base = url.strip().rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        raise ConfigError(f"--url {url!r} is not an http(s) address", hint=f"e.g. --url {DEFAULT_URL}")
    if not server_answers(base):
        raise ConfigError(
            f"no agorakit server answers at {base}",
            hint="start one with `agora serve` (it serves the viewer at /ui), or pass --url to the one you run",
        )
    page = f"{base}/ui/runs/{quote(ref, safe='')}"
    console = _console()
    console.print(page, soft_wrap=True)
    if not webbrowser.open(page):
        console.print("no browser could be started here: open the address above")
