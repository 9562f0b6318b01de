"""Render a report :class:`~agorakit.eval.report.document.Document` as markdown (GitHub flavour)."""

from __future__ import annotations

from agorakit.eval.report.document import Document
from agorakit.eval.report.tables import TextTable


def _cell(text: str) -> str:
    # A pipe would end the cell and a newline the row.
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def markdown_table(table: TextTable) -> str:
    """A pipe table; bold cells are wrapped in ``**``."""
    lines = [
        "| " + " | ".join(_cell(h) for h in table.headers) + " |",
        "|" + "|".join("---:" if align == "right" else ":---" for align in table.align) + "|",
    ]
    for i, row in enumerate(table.rows):
        cells = [f"**{_cell(c)}**" if (i, j) in table.bold else _cell(c) for j, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(document: Document, *, plot_dir: str = "plots") -> str:
    """The report as markdown; plots are linked as ``plot_dir/NAME.png`` (written next to the file)."""
    parts = [f"# {document.title}", *document.intro]
    for section in document.sections:
        parts.append(f"{'#' * section.level} {section.heading}")
        parts.extend(section.paragraphs)
        if section.table is not None:
            parts.append(markdown_table(section.table))
        for plot in section.plots:
            alt = _cell(plot.alt).replace("[", "(").replace("]", ")")
            parts.append(f"**{plot.title}**\n\n![{alt}]({plot_dir}/{plot.name}.png)")
    return "\n\n".join(parts) + "\n"
