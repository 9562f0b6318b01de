"""The report's tables as plain cell text, shared by the terminal, markdown and HTML renderers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from agorakit.eval.metrics import Leaderboard, Summary

if TYPE_CHECKING:
    from rich.table import Table

Align = Literal["left", "right"]


@dataclass(frozen=True, slots=True)
class TextTable:
    """Headers, rows of already formatted cells, per-column alignment, and cells to emphasise."""

    headers: list[str]
    rows: list[list[str]]
    align: list[Align]
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column): the best value of a column
    prose: frozenset[int] = frozenset()  # columns of running text, wrapped between words in HTML


def _align(left: int, total: int) -> list[Align]:
    """The first ``left`` columns (names) left-aligned, the numbers after them right-aligned."""
    return ["left" if i < left else "right" for i in range(total)]


# -- formatters ----------------------------------------------------------


def format_accuracy(s: Summary) -> str:
    """``41.0% (28.3–55.1)``: accuracy and its 95% Wilson interval, in percent."""
    return f"{100 * s.accuracy:.1f}% ({100 * s.ci_low:.1f}–{100 * s.ci_high:.1f})"


def format_usd(usd: float) -> str:
    """``$0.0012``, ``$0``; ``∞`` for an infinite cost-of-pass."""
    if math.isinf(usd):
        return "∞"
    return "$" + (f"{usd:.6f}".rstrip("0").rstrip(".") or "0")


def format_number(value: float, digits: int = 1) -> str:
    """``1,234.5``; ``∞`` for infinity."""
    return "∞" if math.isinf(value) else f"{value:,.{digits}f}"


def uses_cost(summaries: Sequence[Summary]) -> bool:
    """Whether any configuration spent money; local models cost $0, so tokens stand in for cost."""
    return any(s.total_cost_usd > 0 for s in summaries)


# -- tables --------------------------------------------------------------

_SUMMARY_HEADERS = [
    "dataset",
    "method",
    "n",
    "accuracy (95% CI)",
    "errors",
    "tokens/q",
    "calls/q",
    "cost/pass",
    "tokens/pass",
    "latency/q",
]


def _summary_cells(s: Summary) -> list[str]:
    return [
        s.dataset,
        s.label,
        str(s.n),
        format_accuracy(s),
        str(s.errors),
        format_number(s.mean_tokens, 0),
        format_number(s.mean_calls, 1),
        format_usd(s.cost_of_pass),
        format_number(s.tokens_per_pass, 0),
        f"{s.mean_latency_s:.2f}s",
    ]


def summary_text(summaries: Sequence[Summary]) -> TextTable:
    """One line per (dataset, method configuration): the compact overview."""
    return TextTable(
        headers=list(_SUMMARY_HEADERS),
        rows=[_summary_cells(s) for s in summaries],
        align=_align(2, len(_SUMMARY_HEADERS)),
    )


def summary_table(summaries: Sequence[Summary], *, title: str | None = "benchmark results") -> Table:
    """A rich table, one line per summary: accuracy with its interval, errors, tokens, calls, cost, latency."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for header, align in zip(_SUMMARY_HEADERS, summary_text([]).align, strict=True):
        table.add_column(header, justify=align)
    for s in summaries:
        cells = _summary_cells(s)
        # Text, not markup: a label such as "cot [llamacpp:gemma]" must print as is.
        row = [Text(cell) for cell in cells]
        if s.errors:
            row[4].stylize("red")
        table.add_row(*row)
    return table


def _leaderboard_value(value: float, name: str) -> str:
    if name == "accuracy":
        return f"{100 * value:.1f}"
    if name in ("cost_of_pass", "mean_cost_usd", "total_cost_usd"):
        return format_usd(value)
    if name == "mean_latency_s":
        return f"{value:.2f}s"
    return format_number(value, 0 if "tokens" in name else 2)


def leaderboard_text(board: Leaderboard) -> TextTable:
    """Methods × datasets, then ``avg`` and ``avg rank``; the best value of each column in bold."""
    headers = ["method", *board.datasets, "avg", "avg rank"]
    rows: list[list[str]] = []
    columns: list[list[float | None]] = [[] for _ in range(len(board.datasets) + 2)]
    for row in board.rows:
        values = [row.cells[d] for d in board.datasets] + [row.avg]
        cells = [row.label] + ["–" if v is None else _leaderboard_value(v, board.value) for v in values]
        cells.append("–" if row.avg_rank is None else f"{row.avg_rank:.2f}")
        rows.append(cells)
        for column, v in enumerate([*values, row.avg_rank]):
            columns[column].append(v)
    bold: set[tuple[int, int]] = set()
    for column, values in enumerate(columns):
        present = [v for v in values if v is not None]
        if not present:
            continue
        # avg rank (the last column) is always lower-is-better.
        higher = board.higher_is_better and column < len(columns) - 1
        best = max(present) if higher else min(present)
        bold.update((i, column + 1) for i, v in enumerate(values) if v is not None and v == best)
    return TextTable(headers=headers, rows=rows, align=_align(1, len(headers)), bold=bold)


def dataset_text(summaries: Sequence[Summary]) -> TextTable:
    """The detailed table of one dataset's summaries, with totals and the judge's accuracy when there is one."""
    judged = any(s.judged for s in summaries)
    headers = [
        "method",
        "model",
        "config",
        "n",
        "correct",
        "errors",
        "accuracy",
        "95% CI",
        "in tok/q",
        "out tok/q",
        "total tokens",
        "total cost",
        "cost/pass",
        "tokens/pass",
        "calls/q",
        "latency/q",
    ]
    if judged:
        headers.append("judge accuracy")
    rows = []
    for s in summaries:
        cells = [
            s.label,
            s.model,
            s.config_hash[:12],
            str(s.n),
            str(s.correct),
            str(s.errors),
            f"{100 * s.accuracy:.1f}%",
            f"{100 * s.ci_low:.1f}–{100 * s.ci_high:.1f}",
            format_number(s.mean_input_tokens, 0),
            format_number(s.mean_output_tokens, 0),
            f"{s.total_tokens:,}",
            format_usd(s.total_cost_usd),
            format_usd(s.cost_of_pass),
            format_number(s.tokens_per_pass, 0),
            format_number(s.mean_calls, 1),
            f"{s.mean_latency_s:.2f}s",
        ]
        if judged:
            accuracy = s.judge_accuracy
            cells.append("–" if accuracy is None else f"{100 * accuracy:.1f}% of {s.judged}")
        rows.append(cells)
    return TextTable(headers=headers, rows=rows, align=_align(3, len(headers)))


def configs_text(summaries: Sequence[Summary]) -> TextTable:
    """Each method configuration once: label, method, model, config hash and the settings JSON."""
    seen: dict[str, Summary] = {}
    for s in summaries:
        seen.setdefault(s.label, s)
    rows = [[label, s.method, s.model, s.config_hash, s.config] for label, s in sorted(seen.items())]
    return TextTable(headers=["label", "method", "model", "config hash", "config"], rows=rows, align=["left"] * 5)
