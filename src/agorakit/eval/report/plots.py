"""The report's three plots as PNG bytes, drawn with matplotlib's Agg canvas.

matplotlib is imported inside the functions (it costs ~0.3 s), and figures
are built on ``matplotlib.figure.Figure`` with an Agg canvas rather than
through pyplot: no global figure registry, so nothing to close or leak, no
GUI backend, and safe to call from any thread.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agorakit.eval.metrics import Summary, pareto_front
from agorakit.eval.report.tables import uses_cost

_PANEL_WIDTH = 5.6
_PANEL_HEIGHT = 4.4
_MAX_COLUMNS = 3
_DPI = 200  # the page shows plots at the content width (up to ~1170 px): sharp there


@dataclass(frozen=True, slots=True)
class Plot:
    """One rendered figure: a file stem, a caption, the alt text and the PNG bytes."""

    name: str
    title: str
    alt: str
    png: bytes


def _figure(panels: int, *, width: float = _PANEL_WIDTH) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(panels, _MAX_COLUMNS)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(width * columns, _PANEL_HEIGHT * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(panels)]
    return figure, axes


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    # No "Software" text chunk: the same results give the same bytes whatever the matplotlib version.
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _colors(labels: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _by_dataset(summaries: Sequence[Summary]) -> dict[str, list[Summary]]:
    grouped: dict[str, list[Summary]] = {}
    for s in summaries:
        grouped.setdefault(s.dataset, []).append(s)
    return grouped


def _yerr(group: Sequence[Summary]) -> list[list[float]]:
    return [[100 * (s.accuracy - s.ci_low) for s in group], [100 * (s.ci_high - s.accuracy) for s in group]]


def _accuracy_top(summaries: Sequence[Summary]) -> float:
    """The accuracy axis' top: room above the highest interval, not always 100 (low scores stay readable)."""
    highest = max((100 * s.ci_high for s in summaries), default=100.0)
    return min(103.0, max(10.0, highest * 1.15 + 2))


def accuracy_vs_cost(summaries: Sequence[Summary]) -> Plot:
    """Accuracy (with Wilson intervals) against mean cost per question, one panel per dataset, Pareto front marked.

    The x axis is the mean cost in USD when any configuration cost money, else
    the mean tokens per question (local models are free but not costless).
    """
    by_cost = uses_cost(summaries)
    xlabel = "mean cost per question (USD)" if by_cost else "mean tokens per question"
    grouped = _by_dataset(summaries)
    colors = _colors(sorted({s.label for s in summaries}))
    figure, axes = _figure(len(grouped))
    for ax, (dataset, group) in zip(axes, grouped.items(), strict=True):
        xs = [s.mean_cost_usd if by_cost else s.mean_tokens for s in group]
        ys = [100 * s.accuracy for s in group]
        errors = _yerr(group)
        placed: list[tuple[float, float]] = []
        for i, s in enumerate(group):
            ax.errorbar(xs[i], ys[i], yerr=[[errors[0][i]], [errors[1][i]]], fmt="o", color=colors[s.label], capsize=3)
            # Points at (nearly) the same place get their labels stacked, not printed over each other.
            stacked = sum(1 for x, y in placed if abs(y - ys[i]) < 2 and abs(x - xs[i]) <= 0.08 * max(abs(x), 1e-9))
            placed.append((xs[i], ys[i]))
            ax.annotate(s.label, (xs[i], ys[i]), textcoords="offset points", xytext=(5, 4 + 10 * stacked), fontsize=8)
        front = pareto_front(list(zip(xs, ys, strict=True)))
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="black", linewidth=1, alpha=0.6)
        ax.scatter(
            [xs[i] for i in front],
            [ys[i] for i in front],
            s=160,
            facecolors="none",
            edgecolors="black",
            linewidths=1.5,
            label="Pareto front",
            zorder=3,
        )
        positive = [x for x in xs if x > 0]
        if len(positive) == len(xs) and max(positive) / min(positive) >= 20:
            ax.set_xscale("log")
        ax.set_ylim(-3, _accuracy_top(group))
        ax.set_title(dataset)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%), 95% Wilson CI")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    what = "mean cost in USD" if by_cost else "mean tokens"
    alt = (
        f"Scatter plot of accuracy against {what} per question for each method, "
        f"one panel per dataset ({', '.join(grouped)}), with 95% Wilson intervals "
        "as error bars and the Pareto front (most accurate for the cost) circled and joined by a step line."
    )
    return Plot("accuracy_vs_cost", f"Accuracy vs. {what} per question", alt, _png(figure))


def tokens_per_method(summaries: Sequence[Summary]) -> Plot:
    """Mean input and output tokens per question, stacked, one bar per method and one panel per dataset."""
    grouped = _by_dataset(summaries)
    figure, axes = _figure(len(grouped))
    for ax, (dataset, group) in zip(axes, grouped.items(), strict=True):
        positions = list(range(len(group)))
        inputs = [s.mean_input_tokens for s in group]
        outputs = [s.mean_output_tokens for s in group]
        ax.bar(positions, inputs, color="#4c72b0", label="input")
        ax.bar(positions, outputs, bottom=inputs, color="#dd8452", label="output")
        ax.set_xticks(positions, [s.label for s in group], rotation=30, ha="right", fontsize=8)
        ax.set_title(dataset)
        ax.set_ylabel("mean tokens per question")
        # Headroom so the legend never hides the tallest bar.
        ax.set_ylim(0, 1.2 * max([*(i + o for i, o in zip(inputs, outputs, strict=True)), 1.0]))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper right", fontsize=8, ncols=2)
    alt = (
        "Stacked bar chart of the mean input and output tokens per question for each method, "
        f"one panel per dataset ({', '.join(grouped)})."
    )
    return Plot("tokens_per_method", "Tokens per question by method (input + output)", alt, _png(figure))


def accuracy_per_dataset(summaries: Sequence[Summary]) -> Plot:
    """Grouped bars: accuracy of each method on each dataset, with 95% Wilson intervals."""
    grouped = _by_dataset(summaries)
    labels = sorted({s.label for s in summaries})
    colors = _colors(labels)
    width = 0.8 / len(labels)
    # Wide enough for the bars, but no wider than a page (16 in).
    figure, axes = _figure(1, width=min(16.0, max(_PANEL_WIDTH, 1.2 + 0.3 * len(labels) * len(grouped))))
    ax = axes[0]
    top = _accuracy_top(summaries)
    # A 0% bar is drawn as a stub of 1.5% of the axis, so every legend entry has a bar to match; "0%" says why.
    stub = 0.015 * top
    for k, label in enumerate(labels):
        cells = [(d, s) for d, group in enumerate(grouped.values()) for s in group if s.label == label]
        if not cells:
            continue
        xs = [d - 0.4 + width * (k + 0.5) for d, _ in cells]
        members = [s for _, s in cells]
        heights = [max(100 * s.accuracy, stub) for s in members]
        # Whiskers from the drawn top of each bar to the interval's ends, so a stub does not shift them.
        yerr = [
            [max(h - 100 * s.ci_low, 0.0) for h, s in zip(heights, members, strict=True)],
            [max(100 * s.ci_high - h, 0.0) for h, s in zip(heights, members, strict=True)],
        ]
        ax.bar(
            xs,
            heights,
            width,
            yerr=yerr,
            capsize=2,
            color=colors[label],
            label=label,
        )
        for x, s in zip(xs, members, strict=True):
            if s.accuracy == 0:
                ax.annotate("0%", (x, stub), xytext=(-3, 2), textcoords="offset points", ha="right", fontsize=8)
    ax.set_xticks(list(range(len(grouped))), list(grouped))
    ax.set_ylim(0, top)
    ax.set_ylabel("accuracy (%), 95% Wilson CI")
    ax.grid(axis="y", alpha=0.3)
    # Below the axes: bars with their intervals can reach 100%.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=min(len(labels), 4))
    alt = (
        f"Grouped bar chart of each method's accuracy on each dataset ({', '.join(grouped)}), "
        "with 95% Wilson intervals as error bars."
    )
    return Plot("accuracy_per_dataset", "Accuracy per dataset", alt, _png(figure))


def all_plots(summaries: Sequence[Summary]) -> list[Plot]:
    """The report's plots, in the order they appear."""
    return [accuracy_vs_cost(summaries), tokens_per_method(summaries), accuracy_per_dataset(summaries)]
