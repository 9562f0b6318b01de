"""Tables that stay readable at any width, and plain when piped.

In a terminal, ids are printed whole on one line, text columns wrap, headers
wrap between words, and when even that does not fit, the least useful columns
are dropped (each table says which, in order). When stdout is not a terminal,
the table is printed as tab-separated lines with no width limit and no colour,
so ``agora trace list | grep`` and copy-paste see every value whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from agorakit.eval.metrics import Summary

Cell = str | Text
Kind = Literal["id", "fixed", "text"]

# Rich's default box with padding (0, 1): one border plus two spaces per column, and the closing border.
_PER_COLUMN = 3
_TEXT_MIN = 12
_SEPARATORS = str.maketrans("\t\r\n", "   ")


@dataclass(frozen=True, slots=True)
class Column:
    """One column.

    ``kind``: ``id`` is never cut or wrapped; ``fixed`` short values kept on one
    line; ``text`` wraps. ``drop``: when the width does not fit, columns are
    dropped in increasing ``drop`` order; ``None`` keeps the column always.
    """

    header: str
    kind: Kind = "fixed"
    justify: Literal["left", "right"] = "left"
    style: str | None = None
    drop: int | None = None


@dataclass(slots=True)
class Grid:
    """A table description: rendered for a terminal of some width, or as plain lines."""

    columns: Sequence[Column]
    title: str | None = None
    rows: list[tuple[list[Cell], str | None, bool]] = field(default_factory=list)

    def add_row(self, *cells: Cell, style: str | None = None, end_section: bool = False) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append((list(cells), style, end_section))


def _plain(cell: Cell) -> str:
    """The cell on one line: tabs and line breaks (the plain format's separators) become spaces."""
    text = cell.plain if isinstance(cell, Text) else cell
    return text.translate(_SEPARATORS)


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _widths(grid: Grid, width: int) -> dict[int, int]:
    """Column index → content width for the columns that are kept."""
    natural: dict[int, int] = {}
    need: dict[int, int] = {}
    for index, column in enumerate(grid.columns):
        cells = [_plain(row[index]) for row, _, _ in grid.rows]
        longest = max((len(cell) for cell in cells), default=0)
        header_word = _longest_word(column.header)
        natural[index] = max(longest, len(column.header), 1)
        if column.kind == "text":
            need[index] = max(header_word, min(natural[index], _TEXT_MIN))
        else:
            need[index] = max(longest, header_word, 1)
    kept = list(natural)
    droppable = sorted(
        (i for i, c in enumerate(grid.columns) if c.drop is not None),
        key=lambda i: grid.columns[i].drop or 0,
    )
    while True:
        room = width - _PER_COLUMN * len(kept) - 1
        if sum(natural[i] for i in kept) <= room:
            return {i: natural[i] for i in kept}
        if sum(need[i] for i in kept) <= room or not droppable:
            break
        kept.remove(droppable.pop(0))
    widths = {i: need[i] for i in kept}
    # What is left goes to the text columns, each up to its natural width.
    spare = room - sum(widths.values())
    growing = [i for i in kept if grid.columns[i].kind == "text"]
    while spare > 0 and growing:
        for i in list(growing):
            if spare == 0:
                break
            if widths[i] >= natural[i]:
                growing.remove(i)
                continue
            widths[i] += 1
            spare -= 1
    return widths


def _cell(cell: Cell, kind: Kind) -> Text:
    text = cell.copy() if isinstance(cell, Text) else Text(cell)
    if kind == "text":
        text.no_wrap, text.overflow = False, "fold"
    else:
        text.no_wrap, text.overflow = True, "ignore" if kind == "id" else "ellipsis"
    return text


def render(grid: Grid, width: int) -> Table:
    """The rich table for a terminal ``width`` columns wide."""
    widths = _widths(grid, width)
    table = Table(title=grid.title, title_justify="left")
    for index, content_width in widths.items():
        column = grid.columns[index]
        header = Text(column.header, no_wrap=False, overflow="fold")
        table.add_column(header, justify=column.justify, style=column.style, width=content_width)
    for cells, style, end_section in grid.rows:
        table.add_row(*(_cell(cells[i], grid.columns[i].kind) for i in widths), style=style, end_section=end_section)
    return table


def plain_lines(grid: Grid) -> list[str]:
    """Tab-separated: the header line, then one line per row, every value whole."""
    lines = ["\t".join(column.header for column in grid.columns)]
    lines.extend("\t".join(_plain(cell) for cell in cells) for cells, _, _ in grid.rows)
    return lines


def print_table(console: Console, grid: Grid) -> None:
    """Fitted to the terminal's width, or plain lines when the console is not a terminal."""
    if console.is_terminal:
        console.print(render(grid, console.width))
        return
    # Written around rich, which would expand the tabs to spaces.
    console.file.write("".join(line + "\n" for line in plain_lines(grid)))
    console.file.flush()


# Dropped first when the terminal is narrow: cost is $0 on local models, then the per-pass and per-call means.
_SUMMARY_DROP = {"cost/pass": 1, "tokens/pass": 2, "calls/q": 3, "latency/q": 4, "tokens/q": 5, "errors": 6}


def summary_grid(summaries: Sequence[Summary], *, title: str = "benchmark results") -> Grid:
    """The summary ``agora report`` and ``agora bench`` print: the report's summary table, fitted to the terminal."""
    from agorakit.eval.report.tables import summary_text

    text = summary_text(summaries)
    kinds = {"dataset": "text", "method": "text"}
    grid = Grid(
        [
            Column(header, kind="text" if header in kinds else "fixed", justify=align, drop=_SUMMARY_DROP.get(header))
            for header, align in zip(text.headers, text.align, strict=True)
        ],
        title=title,
    )
    errors = text.headers.index("errors")
    for s, row in zip(summaries, text.rows, strict=True):
        cells: list[Text | str] = list(row)
        if s.errors:
            cells[errors] = Text(row[errors], style="red")
        grid.add_row(*cells)
    return grid
