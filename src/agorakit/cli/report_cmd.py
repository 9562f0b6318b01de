"""``agora report``: turn the benchmark results database into markdown and one self-contained HTML page.

Errors are raised as :class:`agorakit.core.errors.ConfigError`; the main CLI
turns them into one red line and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from agorakit.cli.bench_cmd import BENCH_DB_HELP
from agorakit.cli.tables import print_table, summary_grid
from agorakit.core.errors import ConfigError

if TYPE_CHECKING:
    pass

DEFAULT_OUT = Path("agora-report")


def _names(value: str | None) -> list[str] | None:
    """``"a, b"`` → ``["a", "b"]``; ``None`` (no filter) when the option was not given."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"empty list {value!r}", hint="give comma-separated names, e.g. --methods cot,llm_debate")
    return names


def report(
    db: Annotated[
        Path | None,
        typer.Option("--db", help=BENCH_DB_HELP, dir_okay=False),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for report.md, report.html and plots/.", file_okay=False)
    ] = DEFAULT_OUT,
    datasets: Annotated[str | None, typer.Option("--datasets", help="Only these datasets (comma-separated).")] = None,
    methods: Annotated[str | None, typer.Option("--methods", help="Only these methods (comma-separated).")] = None,
    models: Annotated[str | None, typer.Option("--models", help="Only these model URIs (comma-separated).")] = None,
    title: Annotated[str | None, typer.Option("--title", help="The report's title.")] = None,
) -> None:
    """Write a benchmark report (markdown + self-contained HTML with plots) from `agora bench` results."""
    # Imported here: the report pulls in the eval package, which `agora --help` should not pay for.
    from agorakit.eval.metrics import summarize
    from agorakit.eval.report import DEFAULT_TITLE, write_report
    from agorakit.eval.results import ResultsStore, default_db_path

    path = db if db is not None else default_db_path()
    if not path.is_file():
        # Checked first: opening the store would create an empty database there.
        raise ConfigError(f"no results database at {path}", hint="run agora bench first, or pass --db PATH")
    with ResultsStore(path) as store:
        rows = store.rows(datasets=_names(datasets), methods=_names(methods), models=_names(models))
    paths = write_report(rows, out, title=title or DEFAULT_TITLE)
    console = Console(highlight=False)
    print_table(console, summary_grid(summarize(rows)))
    console.print(Text(f"markdown: {paths.markdown}"))
    console.print(Text(f"html:     {paths.html}"))
