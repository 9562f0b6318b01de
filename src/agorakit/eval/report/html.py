"""Render a report :class:`~agorakit.eval.report.document.Document` as one self-contained HTML page.

Everything is inline: the CSS in a ``<style>`` element and the plots as
``data:image/png;base64`` URIs, so the file can be mailed or attached as is.
All text goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
from html import escape

from agorakit.eval.report.document import Document
from agorakit.eval.report.plots import Plot
from agorakit.eval.report.tables import TextTable

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1200px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.7em; margin-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .9em; margin: .6em 0 1.2em; }
th, td { padding: .3em .7em; border-bottom: 1px solid #e5e5e5; white-space: nowrap; }
th { background: #f5f5f5; text-align: left; white-space: normal; vertical-align: bottom; }
td.prose { white-space: normal; min-width: 14em; max-width: 40em; }
td.correct { color: #1a7f37; } td.incorrect { color: #b35900; } td.error { color: #c62828; font-weight: 600; }
details { margin: .4em 0; }
summary { cursor: pointer; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; word-break: break-all; font-family: ui-monospace, monospace; font-size: .85em; }
tr:hover td { background: #fafafa; }
figure { margin: 1.5em 0; }
figure img { display: block; width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
.intro { color: #555; }
"""


_OUTCOMES = {"correct", "incorrect", "error"}


def _cell_class(table: TextTable, column: int, cell: str) -> str:
    if table.align[column] == "right":
        return "num"
    if column in table.prose:
        return "prose"
    if table.headers[column] == "result" and cell in _OUTCOMES:
        return cell
    return "wrap" if len(cell) > 60 else ""


def html_table(table: TextTable) -> str:
    """A ``<table>`` in a box that scrolls sideways inside the page; prose columns wrap between words,
    right-aligned columns get ``class="num"``, other long cells (over 60 characters) wrap anywhere."""
    head = "".join(
        f"<th{' class=num' if align == 'right' else ''}>{escape(h)}</th>"
        for h, align in zip(table.headers, table.align, strict=True)
    )
    body = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, cell in enumerate(row):
            css = _cell_class(table, j, cell)
            text = f"<strong>{escape(cell)}</strong>" if (i, j) in table.bold else escape(cell)
            cells.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def html_figure(plot: Plot) -> str:
    """The plot inline as a base64 PNG, with its alt text and caption."""
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure id="{escape(plot.name)}"><img src="data:image/png;base64,{data}" alt="{escape(plot.alt)}">'
        f"<figcaption>{escape(plot.title)}</figcaption></figure>"
    )


def render_html(document: Document) -> str:
    """The whole page as a string."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(document.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(document.title)}</h1>",
        *(f'<p class="intro">{escape(line)}</p>' for line in document.intro),
    ]
    for section in document.sections:
        level = min(max(section.level, 2), 6)
        if section.collapsed and section.table is not None:
            # Folded (no script needed): long per-sample tables stay out of the way until opened.
            rows = len(section.table.rows)
            parts.append(
                f"<details><summary>{escape(section.heading)} ({rows} row{'' if rows == 1 else 's'})</summary>"
                f"{html_table(section.table)}</details>"
            )
            continue
        parts.append(f"<h{level}>{escape(section.heading)}</h{level}>")
        parts.extend(f"<p>{escape(paragraph)}</p>" for paragraph in section.paragraphs)
        if section.table is not None:
            parts.append(html_table(section.table))
        parts.extend(html_figure(plot) for plot in section.plots)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
