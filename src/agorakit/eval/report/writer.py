"""``write_report``: results in, ``report.md``, ``report.html`` and ``plots/*.png`` out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agorakit.core.errors import ConfigError
from agorakit.eval.metrics import summarize
from agorakit.eval.record import ResultRow
from agorakit.eval.report.document import build_document
from agorakit.eval.report.html import render_html
from agorakit.eval.report.markdown import render_markdown
from agorakit.eval.report.plots import all_plots

DEFAULT_TITLE = "agorakit benchmark report"
PLOT_DIR = "plots"


@dataclass(frozen=True, slots=True)
class ReportPaths:
    """Where a report was written: the markdown, the self-contained HTML and the PNGs the markdown links."""

    markdown: Path
    html: Path
    plots: tuple[Path, ...] = ()


def write_report(rows: Iterable[ResultRow], out_dir: Path, *, title: str = DEFAULT_TITLE) -> ReportPaths:
    """Summarize ``rows`` and write ``out_dir/report.md``, ``out_dir/report.html`` and ``out_dir/plots/*.png``.

    Existing files of the same names are replaced. Raises :class:`ConfigError`
    when there are no rows or the directory cannot be written.
    """
    rows = list(rows)
    summaries = summarize(rows)
    if not summaries:
        raise ConfigError(
            "no results in DB; run agora bench first",
            hint="or check the --db path and the --datasets/--methods/--models filters",
        )
    plots = all_plots(summaries)
    document = build_document(title, summaries, plots, rows)
    markdown_path = out_dir / "report.md"
    html_path = out_dir / "report.html"
    plot_paths = tuple(out_dir / PLOT_DIR / f"{plot.name}.png" for plot in plots)
    try:
        (out_dir / PLOT_DIR).mkdir(parents=True, exist_ok=True)
        for plot, path in zip(plots, plot_paths, strict=True):
            path.write_bytes(plot.png)
        markdown_path.write_text(render_markdown(document, plot_dir=PLOT_DIR), encoding="utf-8")
        html_path.write_text(render_html(document), encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write the report to {out_dir}: {error.strerror or error}") from error
    return ReportPaths(markdown=markdown_path, html=html_path, plots=plot_paths)
