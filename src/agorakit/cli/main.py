"""The ``agora`` command: run an agent or a method, list models and methods, inspect traces."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from agorakit import __version__
from agorakit.cli import analyze_cmd, bench_cmd, methods_cmd, models_cmd, report_cmd, run_cmd, security_cmd, trace_cmd

app = typer.Typer(
    name="agora",
    help="agorakit: LLM multi-agent systems that run on a laptop with no API key.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(run_cmd.run)
app.command("models")(models_cmd.models)
app.command("methods")(methods_cmd.methods)
app.command("bench")(bench_cmd.bench)
app.command("report")(report_cmd.report)
app.command("analyze")(analyze_cmd.analyze)
app.add_typer(trace_cmd.app, name="trace", help="List, show and export run traces.")
app.add_typer(security_cmd.app, name="security", help="Measure tool policies against prompt injection (AgentDojo).")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agorakit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks on errors (also accepted after the command).")
    ] = False,
) -> None:
    """agorakit's command line."""


def _split_debug(args: list[str]) -> tuple[list[str], bool]:
    """Take ``--debug`` out of the arguments wherever it is (before a ``--``).

    ``--debug`` is a root option, but the error line tells users to "rerun with
    --debug", and they add it at the end: ``agora run "task" -m URI --debug``.
    """
    end = args.index("--") if "--" in args else len(args)
    kept = [arg for arg in args[:end] if arg != "--debug"]
    return kept + args[end:], len(kept) < end


def main() -> None:
    """Entry point: errors become one clear line and a non-zero exit, unless --debug.

    Exit codes: 0 success; 1 an error (one ``error:`` line on stderr); 2 a usage
    error (typer's usage message); 3 ``agora run`` ended without a final answer;
    130 interrupted.
    """
    from rich.markup import escape

    from agorakit.core.errors import AgorakitError

    args, debug = _split_debug(sys.argv[1:])
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    try:
        # Standalone mode: typer itself prints usage errors (exit 2) and --help and turns
        # typer.Exit into the exit code, whichever click it is built on (recent typer
        # vendors its own, so `click.ClickException` would not catch its errors).
        # Only exceptions raised by the commands reach the handlers below.
        app(args=args, prog_name="agora")
    except AgorakitError as error:
        if debug:
            raise
        hint = f"  [dim]→ {escape(_one_line(error.hint))}[/dim]" if error.hint else ""
        where = f"  [dim](run {error.run_id}: agora trace show {error.run_id})[/dim]" if error.run_id else ""
        err.print(f"[bold red]error:[/bold red] {escape(_one_line(error.message))}{hint}{where}")
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        sys.exit(130)
    except Exception as error:
        if debug:
            raise
        text = escape(_one_line(f"{type(error).__name__}: {error}"))
        err.print(f"[bold red]error:[/bold red] {text}  [dim](rerun with --debug for the traceback)[/dim]")
        sys.exit(1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    main()
