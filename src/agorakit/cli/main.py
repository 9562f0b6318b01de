"""The ``agora`` command: run an agent, list models, inspect traces."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from agorakit import __version__
from agorakit.cli import models_cmd, run_cmd, trace_cmd

app = typer.Typer(
    name="agora",
    help="agorakit: LLM multi-agent systems that run on a laptop with no API key.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(run_cmd.run)
app.command("models")(models_cmd.models)
app.add_typer(trace_cmd.app, name="trace", help="List, show and export run traces.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agorakit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """agorakit's command line."""


def main() -> None:
    """Entry point: errors become one clear line and a non-zero exit, unless --debug."""
    import click

    from agorakit.core.errors import AgorakitError

    debug = "--debug" in sys.argv[1:]
    err = Console(stderr=True)
    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.Abort:
        err.print("[red]aborted[/red]")
        sys.exit(130)
    except click.ClickException as usage:
        usage.show()
        sys.exit(usage.exit_code)
    except AgorakitError as error:
        if debug:
            raise
        hint = f"\n  [dim]→ {error.hint}[/dim]" if error.hint else ""
        err.print(f"[bold red]error:[/bold red] {error.message}{hint}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        sys.exit(130)
    except Exception as error:
        if debug:
            raise
        err.print(f"[bold red]error:[/bold red] {type(error).__name__}: {error}  [dim](rerun with --debug)[/dim]")
        sys.exit(1)


if __name__ == "__main__":
    main()
