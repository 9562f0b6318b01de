"""Benchmark metrics: accuracy with a Wilson interval, tokens, cost, cost-of-pass, leaderboards.

Pure functions over :class:`~agorakit.eval.record.ResultRow` lists; nothing here
does I/O or renders. The tables (terminal, markdown, HTML) are in
:mod:`agorakit.eval.report.tables`, which imports this module and not the reverse.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agorakit.core.errors import ConfigError
from agorakit.eval.record import ResultRow

#: Leaderboard values and whether higher is better.
LEADERBOARD_VALUES: dict[str, bool] = {
    "accuracy": True,
    "cost_of_pass": False,
    "tokens_per_pass": False,
    "mean_tokens": False,
    "mean_cost_usd": False,
    "total_cost_usd": False,
    "mean_latency_s": False,
    "mean_calls": False,
}
_HASH_PREFIX = 6


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``correct / n`` (95% for ``z = 1.96``).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at
    0 or n successes. ``n = 0`` gives the uninformative ``(0.0, 1.0)``.
    """
    if n < 0 or not 0 <= correct <= max(n, 0):
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # The bounds are exact at the extremes; float rounding would give -1e-17 or 0.9999999.
    low = 0.0 if correct == 0 else max(0.0, center - half)
    high = 1.0 if correct == n else min(1.0, center + half)
    return low, high


@dataclass(frozen=True, slots=True)
class Summary:
    """The metrics of one (dataset, method, config hash, model) cell.

    ``n`` counts every row, errors included (an error is a wrong answer).
    ``cost_of_pass`` is the expected cost of one correct answer, total cost /
    correct answers (= mean cost / accuracy), and ``tokens_per_pass`` the same
    in tokens; both are ``math.inf`` when no answer is correct. ``label``
    names the method in tables, with the model and config hash added only when
    needed to tell its configurations apart (see :func:`method_labels`).
    """

    dataset: str
    method: str
    config_hash: str
    model: str
    label: str
    config: str
    n: int
    correct: int
    errors: int
    accuracy: float
    ci_low: float
    ci_high: float
    total_input_tokens: int
    total_output_tokens: int
    mean_input_tokens: float
    mean_output_tokens: float
    mean_tokens: float
    total_cost_usd: float
    mean_cost_usd: float
    mean_latency_s: float
    mean_calls: float
    cost_of_pass: float
    tokens_per_pass: float
    judged: int = 0  # rows the optional LLM judge looked at
    judge_correct: int = 0

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.total_output_tokens

    @property
    def judge_accuracy(self) -> float | None:
        """The LLM judge's accuracy over the rows it judged; ``None`` when it judged none."""
        return self.judge_correct / self.judged if self.judged else None


def _hash_width(hashes: Iterable[str]) -> int:
    """The shortest prefix length (at least 6) that keeps the hashes distinct."""
    distinct = set(hashes)
    longest = max((len(h) for h in distinct), default=0)
    width = _HASH_PREFIX
    while width < longest and len({h[:width] for h in distinct}) < len(distinct):
        width += 1
    return width


def method_labels(keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """Display labels for (method, config_hash, model) triples, so that no two configurations merge.

    A method run with one configuration on one model is just ``method``; the
    model is added as ``method [model]`` when the method ran on several
    models, and ``#hash`` (the shortest distinct prefix, at least 6
    characters) when one model ran it with several configurations.
    """
    by_method: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for method, config_hash, model in keys:
        by_method[method].add((config_hash, model))
    labels: dict[tuple[str, str, str], str] = {}
    for method, pairs in by_method.items():
        models = {model for _, model in pairs}
        hashes_per_model: dict[str, set[str]] = defaultdict(set)
        for config_hash, model in pairs:
            hashes_per_model[model].add(config_hash)
        need_hash = any(len(hashes) > 1 for hashes in hashes_per_model.values())
        width = _hash_width(config_hash for config_hash, _ in pairs)
        for config_hash, model in pairs:
            label = method
            if len(models) > 1:
                label += f" [{model}]"
            if need_hash:
                label += f" #{config_hash[:width]}"
            labels[(method, config_hash, model)] = label
    return labels


def _per_pass(total: float, correct: int) -> float:
    return total / correct if correct else math.inf


def summarize(rows: Iterable[ResultRow]) -> list[Summary]:
    """One :class:`Summary` per (dataset, method, config hash, model), ordered by dataset, method, model, hash."""
    groups: dict[tuple[str, str, str, str], list[ResultRow]] = defaultdict(list)
    for row in rows:
        key = row.key
        groups[(key.dataset, key.method, key.config_hash, key.model)].append(row)
    labels = method_labels((method, config_hash, model) for _, method, config_hash, model in groups)
    summaries = []
    for (dataset, method, config_hash, model), group in sorted(groups.items(), key=lambda item: _order(item[0])):
        n = len(group)
        correct = sum(row.correct for row in group)
        low, high = wilson_interval(correct, n)
        input_tokens = sum(row.input_tokens for row in group)
        output_tokens = sum(row.output_tokens for row in group)
        cost = math.fsum(row.cost_usd for row in group)
        judged = [row for row in group if row.judge_correct is not None]
        summaries.append(
            Summary(
                dataset=dataset,
                method=method,
                config_hash=config_hash,
                model=model,
                label=labels[(method, config_hash, model)],
                config=group[0].config,
                n=n,
                correct=correct,
                errors=sum(row.status == "error" for row in group),
                accuracy=correct / n,
                ci_low=low,
                ci_high=high,
                total_input_tokens=input_tokens,
                total_output_tokens=output_tokens,
                mean_input_tokens=input_tokens / n,
                mean_output_tokens=output_tokens / n,
                mean_tokens=(input_tokens + output_tokens) / n,
                total_cost_usd=cost,
                mean_cost_usd=cost / n,
                mean_latency_s=math.fsum(row.latency_s for row in group) / n,
                mean_calls=sum(row.calls for row in group) / n,
                cost_of_pass=_per_pass(cost, correct),
                tokens_per_pass=_per_pass(input_tokens + output_tokens, correct),
                judged=len(judged),
                judge_correct=sum(bool(row.judge_correct) for row in judged),
            )
        )
    return summaries


def _order(key: tuple[str, str, str, str]) -> tuple[str, str, str, str]:
    dataset, method, config_hash, model = key
    return dataset, method, model, config_hash


# -- leaderboard ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One method's line: its value per dataset (``None`` when it did not run there), mean and mean rank."""

    label: str
    cells: dict[str, float | None]
    avg: float | None
    avg_rank: float | None


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """A methods × datasets table (MASLab style), rows ordered best average rank first."""

    value: str
    higher_is_better: bool
    datasets: list[str]
    rows: list[LeaderboardRow]


def ranks(values: Sequence[float], *, higher_is_better: bool = True) -> list[float]:
    """Competition ranks, 1 = best; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: -values[i] if higher_is_better else values[i])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and _same(values[order[end]], values[order[start]]):
            end += 1
        shared = (start + 1 + end) / 2  # mean of ranks start+1 .. end
        for position in range(start, end):
            result[order[position]] = shared
        start = end
    return result


def _same(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def leaderboard(summaries: Sequence[Summary], value: str = "accuracy") -> Leaderboard:
    """Tabulate one metric as methods × datasets with its mean over datasets and the mean rank.

    Each dataset ranks the methods that ran on it (1 = best, ties share the
    mean rank); a method's ``avg`` and ``avg_rank`` are over the datasets it
    has a value for, missing cells are left out rather than counted as zero.
    """
    if value not in LEADERBOARD_VALUES:
        raise ConfigError(f"unknown leaderboard value {value!r}", hint=f"use one of {', '.join(LEADERBOARD_VALUES)}")
    higher_is_better = LEADERBOARD_VALUES[value]
    datasets = sorted({s.dataset for s in summaries})
    labels = sorted({s.label for s in summaries})
    cells: dict[str, dict[str, float | None]] = {label: dict.fromkeys(datasets) for label in labels}
    for s in summaries:
        cells[s.label][s.dataset] = float(getattr(s, value))
    rank_lists: dict[str, list[float]] = defaultdict(list)
    for dataset in datasets:
        present = [(label, row[dataset]) for label, row in cells.items() if row[dataset] is not None]
        dataset_ranks = ranks([v for _, v in present if v is not None], higher_is_better=higher_is_better)
        for (label, _), rank in zip(present, dataset_ranks, strict=True):
            rank_lists[label].append(rank)
    rows = []
    for label in labels:
        values = [v for v in cells[label].values() if v is not None]
        rows.append(
            LeaderboardRow(
                label=label,
                cells=cells[label],
                avg=math.fsum(values) / len(values) if values else None,
                avg_rank=math.fsum(rank_lists[label]) / len(rank_lists[label]) if rank_lists[label] else None,
            )
        )
    rows.sort(key=lambda row: (math.inf if row.avg_rank is None else row.avg_rank, row.label))
    return Leaderboard(value=value, higher_is_better=higher_is_better, datasets=datasets, rows=rows)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, accuracy) points no other point dominates, cheapest first.

    A point is dominated when another costs no more and scores no less, and is
    strictly better in one of the two. Identical points dominate neither
    other, so all copies of a front point are on the front.
    """
    front = [
        i
        for i, (cost, accuracy) in enumerate(points)
        if not any(
            c <= cost and a >= accuracy and (c < cost or a > accuracy) for j, (c, a) in enumerate(points) if j != i
        )
    ]
    return sorted(front, key=lambda i: (points[i][0], -points[i][1], i))
