"""The viewer's benchmark page: ``agora report``'s tables and plots for the results database,
then every sample with each method's answer and verdict, linked to the run's trace."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from agorakit.core.errors import ConfigError
from agorakit.eval.record import ResultRow
from agorakit.server.viewer_pages import Pages

SAMPLES_PER_PAGE = 50
_CACHED = 8


@dataclass(frozen=True, slots=True)
class Sample:
    """One question of a dataset, and each method configuration's row for it (by label)."""

    dataset: str
    sample_id: str
    question: str
    expected: str
    rows: dict[str, ResultRow]


@dataclass(frozen=True, slots=True)
class Verdict:
    label: str
    outcome: str  # correct, incorrect or error
    answer: str
    run_id: str
    detail: str


def _signature(path: Path) -> tuple[int, ...]:
    """Changes when the database (or its write-ahead log) is written."""
    found: list[int] = []
    for part in (path, path.with_name(path.name + "-wal")):
        try:
            stat = part.stat()
        except FileNotFoundError:
            continue
        found += [stat.st_mtime_ns, stat.st_size]
    return tuple(found)


class BenchData:
    """The results database's rows and rendered plots, read again only when the file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: tuple[tuple[Path, tuple[int, ...]], list[ResultRow]] | None = None
        self._plots: dict[tuple[Any, ...], list[Markup]] = {}

    def rows(self, path: Path) -> list[ResultRow]:
        from agorakit.eval.results import ResultsStore

        if not path.is_file():
            raise ConfigError(f"no results database at {path}", hint="run `agora bench` first")
        key = (path, _signature(path))
        with self._lock:
            if self._rows is not None and self._rows[0] == key:
                return self._rows[1]
        with ResultsStore(path) as store:
            rows = store.rows()
        with self._lock:
            self._rows = (key, rows)
        return rows

    def plots(self, path: Path, chosen: tuple[str, str], summaries: Sequence[Any]) -> list[Markup]:
        """The report's plots as ``<figure>`` elements (PNG inline), drawn once per file version."""
        from agorakit.eval.report.html import html_figure
        from agorakit.eval.report.plots import all_plots

        key = (path, _signature(path), chosen)
        with self._lock:
            cached = self._plots.get(key)
        if cached is not None:
            return cached
        figures = [Markup(html_figure(plot)) for plot in all_plots(summaries)]  # html_figure escapes its text
        with self._lock:
            if len(self._plots) >= _CACHED:
                self._plots.clear()
            self._plots[key] = figures
        return figures


def samples(rows: Sequence[ResultRow], labels: dict[tuple[str, str, str], str]) -> list[Sample]:
    """One entry per (dataset, sample id), in that order."""
    grouped: dict[tuple[str, str], Sample] = {}
    for row in rows:
        key = row.key
        found = grouped.get((key.dataset, key.sample_id))
        if found is None:
            found = grouped[(key.dataset, key.sample_id)] = Sample(key.dataset, key.sample_id, row.question,
                                                                   row.expected, {})  # fmt: skip
        found.rows[labels[(key.method, key.config_hash, key.model)]] = row
    return [grouped[key] for key in sorted(grouped)]


def verdict(label: str, row: ResultRow) -> Verdict:
    from agorakit.eval.report.samples import outcome

    result = outcome(row)
    detail = row.error if result == "error" else row.reason
    if row.judge_correct is not None:
        detail += f" (judge: {'correct' if row.judge_correct else 'incorrect'})"
    return Verdict(label, result, row.extracted or row.prediction, row.run_id, detail)


def _tables(summaries: Sequence[Any]) -> list[tuple[str, Markup]]:
    from agorakit.eval.metrics import leaderboard
    from agorakit.eval.report.html import html_table
    from agorakit.eval.report.tables import leaderboard_text, summary_text, uses_cost

    efficiency = "cost_of_pass" if uses_cost(summaries) else "tokens_per_pass"
    title = "cost per correct answer" if efficiency == "cost_of_pass" else "tokens per correct answer"
    tables = [
        ("Summary", summary_text(summaries)),
        ("Leaderboard: accuracy (%)", leaderboard_text(leaderboard(summaries, "accuracy"))),
        (f"Leaderboard: {title}", leaderboard_text(leaderboard(summaries, efficiency))),
    ]
    return [(heading, Markup(html_table(table))) for heading, table in tables]  # html_table escapes every cell


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    data = BenchData()

    @routes.get("/ui/bench", response_model=None)
    def bench(request: Request, dataset: str = "", method: str = "", page: int = 1) -> Response:
        from agorakit.eval.metrics import method_labels, summarize

        path = pages.bench_db
        try:
            every = data.rows(path)
        except ConfigError as error:
            return pages.render(request, "bench.html", missing=error.message, db=path)
        rows = [
            r for r in every if (not dataset or r.key.dataset == dataset) and (not method or r.key.method == method)
        ]
        summaries = summarize(rows)
        labels = method_labels({(r.key.method, r.key.config_hash, r.key.model) for r in rows})
        found = samples(rows, labels)
        page = max(1, min(page, (len(found) + SAMPLES_PER_PAGE - 1) // SAMPLES_PER_PAGE or 1))
        shown = found[(page - 1) * SAMPLES_PER_PAGE : page * SAMPLES_PER_PAGE]
        columns = sorted(set(labels.values()))

        def link(to_page: int) -> str:
            query = {"dataset": dataset, "method": method, "page": str(to_page) if to_page > 1 else ""}
            return urlencode({key: value for key, value in query.items() if value})

        return pages.render(
            request, "bench.html", missing=None, db=path, dataset=dataset, method=method,
            datasets=sorted({r.key.dataset for r in every}), methods=sorted({r.key.method for r in every}),
            rows=len(rows), tables=_tables(summaries) if summaries else [],
            plots=data.plots(path, (dataset, method), summaries) if summaries else [],
            columns=columns, samples=shown, verdict=verdict, page=page, per_page=SAMPLES_PER_PAGE, total=len(found),
            older=link(page + 1) if page * SAMPLES_PER_PAGE < len(found) else None,
            newer=link(page - 1) if page > 1 else None,
        )  # fmt: skip

    return routes
