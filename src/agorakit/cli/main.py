"""The ``agora`` command: run an agent or a method, list models and methods, inspect traces."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated, TextIO


def _interrupted_while_starting(signum: int, frame: object) -> None:
    sys.stderr.write("interrupted\n")
    sys.exit(130)


# Ctrl-C while the command's modules load: the same one line and exit 130, not a
# traceback from an import. main() hands SIGINT back to Python once loaded.
_AS_COMMAND = __name__ == "__main__" or sys.argv[0].endswith(("/agora", "\\agora.exe"))
if _AS_COMMAND and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

from agorakit import __version__  # noqa: E402
from agorakit.cli import (  # noqa: E402
    analyze_cmd,
    bench_cmd,
    methods_cmd,
    models_cmd,
    report_cmd,
    resume_cmd,
    run_cmd,
    security_cmd,
    serve_cmd,
    session_cmd,
    sim_cmd,
    trace_cmd,
)

app = typer.Typer(
    name="agora",
    help="agorakit: LLM multi-agent systems that run on a laptop with no API key.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(run_cmd.run)
app.command("resume")(resume_cmd.resume)
app.command("approve")(resume_cmd.approve)
app.command("models")(models_cmd.models)
app.command("methods")(methods_cmd.methods)
app.command("bench")(bench_cmd.bench)
app.command("report")(report_cmd.report)
app.command("analyze")(analyze_cmd.analyze)
app.command("serve")(serve_cmd.serve)
app.command("sim")(sim_cmd.sim)
app.add_typer(serve_cmd.keys_app, name="keys", help="Create, list and revoke the API keys of `agora serve`.")
app.add_typer(trace_cmd.app, name="trace", help="List, show, export and open (in the web viewer) run traces.")
app.add_typer(session_cmd.app, name="session", help="List, show and delete the conversations kept in sessions.")
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

    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    args, debug = _split_debug(sys.argv[1:])
    if debug:
        # Engine logs (llama.cpp's own lines) and agorakit's debug logs show only with --debug.
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("agorakit").setLevel(logging.DEBUG)
    err = Console(file=_own_stderr(), soft_wrap=True, highlight=False)
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
    except SystemExit as done:
        # typer turns Ctrl-C inside a command into a silent exit 130.
        if done.code == 130:
            err.print("[red]interrupted[/red]")
        raise
    except Exception as error:
        if debug:
            raise
        text = escape(_one_line(f"{type(error).__name__}: {error}"))
        err.print(f"[bold red]error:[/bold red] {text}  [dim](rerun with --debug for the traceback)[/dim]")
        sys.exit(1)


def _own_stderr() -> TextIO:
    """A copy of stderr that stays ours: while llama-cpp-python loads a model it
    points fds 1 and 2 at /dev/null, and a Ctrl-C then must still be reported."""
    try:
        return os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace")
    except (AttributeError, OSError, ValueError):  # no real file behind sys.stderr (embedded, tests)
        return sys.stderr


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    main()
