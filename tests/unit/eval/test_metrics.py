"""Metrics on hand-made result rows: Wilson intervals, cost-of-pass, labels, leaderboards, Pareto fronts."""

from __future__ import annotations

import math

import pytest
from eval_rows import result_row
from rich.console import Console

from agorakit.core.errors import ConfigError
from agorakit.eval.metrics import (
    Summary,
    leaderboard,
    method_labels,
    pareto_front,
    ranks,
    summarize,
    wilson_interval,
)
from agorakit.eval.record import ResultRow
from agorakit.eval.report.tables import summary_table

Z = 1.96


def row(
    sample: int,
    *,
    correct: bool,
    dataset: str = "gsm8k",
    method: str = "cot",
    config_hash: str = "c0ffee00",
    model: str = "scripted:a",
    cost: float = 0.0,
    input_tokens: int = 100,
    output_tokens: int = 20,
    calls: int = 1,
    latency: float = 1.0,
    status: str = "ok",
    judge: bool | None = None,
) -> ResultRow:
    return result_row(
        dataset,
        str(sample),
        method,
        config_hash,
        model,
        config='{"rounds": 2}',
        status="error" if status == "error" else "ok",
        correct=correct,
        calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        latency_s=latency,
        run_id=f"run{sample}",
        judge_correct=judge,
    )


def rows_with(correct: int, n: int, **kwargs: object) -> list[ResultRow]:
    return [row(i, correct=i < correct, **kwargs) for i in range(n)]  # type: ignore[arg-type]


# -- Wilson ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("correct", "n", "expected"),
    [(0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (10, 10, (0.7225, 1.0)), (4, 10, (0.1682, 0.6873))],
)
def test_wilson_known_values(correct: int, n: int, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(correct, n)
    assert (round(low, 4), round(high, 4)) == expected


@pytest.mark.parametrize(("correct", "n"), [(0, 10), (3, 10), (5, 10), (7, 10), (10, 10), (1, 2), (41, 100)])
def test_wilson_bounds_solve_the_score_equation(correct: int, n: int) -> None:
    # The Wilson bounds are the p where the score statistic equals z: n (p̂ - p)² = z² p (1 - p).
    p_hat = correct / n
    for p in wilson_interval(correct, n):
        assert n * (p_hat - p) ** 2 == pytest.approx(Z * Z * p * (1 - p), abs=1e-9)


def test_wilson_extremes_and_symmetry() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    low, high = wilson_interval(3, 10)
    mirror_low, mirror_high = wilson_interval(7, 10)
    assert (low, high) == pytest.approx((1 - mirror_high, 1 - mirror_low))
    # z = 2.576 (99%) is wider than the default 95%.
    wide_low, wide_high = wilson_interval(5, 10, z=2.576)
    assert (round(wide_low, 4), round(wide_high, 4)) == (0.1842, 0.8158)  # centre 0.5 ± 0.3158


@pytest.mark.parametrize(("correct", "n"), [(11, 10), (-1, 10), (0, -1)])
def test_wilson_rejects_impossible_counts(correct: int, n: int) -> None:
    with pytest.raises(ValueError, match="correct <= n"):
        wilson_interval(correct, n)


# -- summarize -------------------------------------------------------------


def only(summaries: list[Summary]) -> Summary:
    assert len(summaries) == 1
    return summaries[0]


def test_summary_cost_of_pass_and_tokens_per_pass() -> None:
    # 10 rows costing 0.002 each (0.02 in all), 4 correct: 0.005 per correct answer.
    rows = rows_with(4, 10, cost=0.002, input_tokens=100, output_tokens=20, calls=3, latency=2.0)
    s = only(summarize(rows))
    assert (s.n, s.correct, s.errors) == (10, 4, 0)
    assert s.accuracy == 0.4
    assert (round(s.ci_low, 4), round(s.ci_high, 4)) == (0.1682, 0.6873)
    assert s.total_cost_usd == pytest.approx(0.02)
    assert s.mean_cost_usd == pytest.approx(0.002)
    assert s.cost_of_pass == pytest.approx(0.005)
    assert s.cost_of_pass == pytest.approx(s.mean_cost_usd / s.accuracy)
    assert (s.total_input_tokens, s.total_output_tokens, s.total_tokens) == (1000, 200, 1200)
    assert (s.mean_input_tokens, s.mean_output_tokens, s.mean_tokens) == (100.0, 20.0, 120.0)
    assert s.tokens_per_pass == 300.0
    assert (s.mean_calls, s.mean_latency_s) == (3.0, 2.0)
    assert (s.label, s.config) == ("cot", '{"rounds": 2}')


def test_no_correct_answer_costs_infinity_and_free_models_cost_zero() -> None:
    s = only(summarize(rows_with(0, 5, cost=0.01)))
    assert s.cost_of_pass == math.inf
    assert s.tokens_per_pass == math.inf
    local = only(summarize(rows_with(2, 5, cost=0.0, input_tokens=50, output_tokens=10)))
    assert local.cost_of_pass == 0.0
    assert local.tokens_per_pass == 150.0  # 300 tokens / 2 correct


def test_errors_count_as_wrong_and_judge_is_kept_apart() -> None:
    rows = [
        row(0, correct=True, judge=True),
        row(1, correct=False, judge=True),
        row(2, correct=False, status="error"),
        row(3, correct=False),
    ]
    s = only(summarize(rows))
    assert (s.n, s.correct, s.errors, s.accuracy) == (4, 1, 1, 0.25)
    assert (s.judged, s.judge_correct, s.judge_accuracy) == (2, 2, 1.0)
    assert only(summarize(rows_with(1, 2))).judge_accuracy is None


def test_summaries_are_ordered_by_dataset_method_model() -> None:
    rows = [
        row(0, correct=True, dataset="math500", method="cot"),
        row(0, correct=True, dataset="gsm8k", method="llm_debate", model="scripted:b"),
        row(0, correct=True, dataset="gsm8k", method="llm_debate", model="scripted:a"),
        row(0, correct=True, dataset="gsm8k", method="cot"),
    ]
    order = [(s.dataset, s.method, s.model) for s in summarize(reversed(rows))]
    assert order == [
        ("gsm8k", "cot", "scripted:a"),
        ("gsm8k", "llm_debate", "scripted:a"),
        ("gsm8k", "llm_debate", "scripted:b"),
        ("math500", "cot", "scripted:a"),
    ]


# -- labels ----------------------------------------------------------------


def test_labels_add_only_what_tells_configurations_apart() -> None:
    labels = method_labels(
        [
            ("cot", "aaaaaa11", "scripted:a"),
            ("debate", "bbbbbbbb", "scripted:a"),
            ("debate", "bbbbbbbb", "scripted:b"),
            ("dylan", "aaaaaa11", "scripted:a"),
            ("dylan", "aaaaaa22", "scripted:a"),
            ("mad", "11111111", "scripted:a"),
            ("mad", "22222222", "scripted:a"),
            ("mad", "11111111", "scripted:b"),
        ]
    )
    assert labels == {
        ("cot", "aaaaaa11", "scripted:a"): "cot",
        ("debate", "bbbbbbbb", "scripted:a"): "debate [scripted:a]",
        ("debate", "bbbbbbbb", "scripted:b"): "debate [scripted:b]",
        # The 6-character prefixes collide, so the hash grows to 7.
        ("dylan", "aaaaaa11", "scripted:a"): "dylan #aaaaaa1",
        ("dylan", "aaaaaa22", "scripted:a"): "dylan #aaaaaa2",
        ("mad", "11111111", "scripted:a"): "mad [scripted:a] #111111",
        ("mad", "22222222", "scripted:a"): "mad [scripted:a] #222222",
        ("mad", "11111111", "scripted:b"): "mad [scripted:b] #111111",
    }


def test_two_configurations_never_merge() -> None:
    rows = rows_with(2, 4, config_hash="abcdef01") + rows_with(3, 4, config_hash="fedcba01")
    summaries = summarize(rows)
    assert [(s.label, s.correct) for s in summaries] == [("cot #abcdef", 2), ("cot #fedcba", 3)]
    board = leaderboard(summaries)
    assert [(r.label, r.cells["gsm8k"]) for r in board.rows] == [("cot #fedcba", 0.75), ("cot #abcdef", 0.5)]


# -- leaderboard -----------------------------------------------------------


def test_ranks_share_ties() -> None:
    assert ranks([0.5, 0.5, 0.2]) == [1.5, 1.5, 3.0]
    assert ranks([0.2, 0.9, 0.9, 0.9]) == [4.0, 2.0, 2.0, 2.0]
    assert ranks([3.0, 1.0, math.inf, math.inf], higher_is_better=False) == [2.0, 1.0, 3.5, 3.5]
    assert ranks([0.1 + 0.2, 0.3]) == [1.5, 1.5]  # equal up to float rounding


def test_leaderboard_average_and_average_rank_with_a_tie_and_a_missing_cell() -> None:
    # d1: A and B tie at 0.5 (rank 1.5 each), C 3rd; d2: C, B, A; d3: A, C (B did not run).
    cells = {("A", "d1"): (1, 2), ("B", "d1"): (1, 2), ("C", "d1"): (1, 5)}
    cells |= {("A", "d2"): (3, 10), ("B", "d2"): (6, 10), ("C", "d2"): (9, 10)}
    cells |= {("A", "d3"): (4, 5), ("C", "d3"): (2, 5)}
    rows = [r for (method, dataset), (c, n) in cells.items() for r in rows_with(c, n, method=method, dataset=dataset)]
    board = leaderboard(summarize(rows))
    assert (board.value, board.higher_is_better, board.datasets) == ("accuracy", True, ["d1", "d2", "d3"])
    by_label = {r.label: r for r in board.rows}
    assert [r.label for r in board.rows] == ["B", "A", "C"]  # by average rank
    assert by_label["B"].cells == {"d1": 0.5, "d2": 0.6, "d3": None}
    assert by_label["A"].avg == pytest.approx((0.5 + 0.3 + 0.8) / 3)
    assert by_label["B"].avg == pytest.approx(0.55)
    assert by_label["C"].avg == pytest.approx(0.5)
    assert by_label["A"].avg_rank == pytest.approx((1.5 + 3 + 1) / 3)
    assert by_label["B"].avg_rank == pytest.approx((1.5 + 2) / 2)
    assert by_label["C"].avg_rank == pytest.approx((3 + 1 + 2) / 3)


def test_leaderboard_lower_is_better_for_cost_of_pass() -> None:
    rows = (
        rows_with(4, 10, method="cheap", cost=0.001)
        + rows_with(5, 10, method="dear", cost=0.01)
        + rows_with(0, 10, method="hopeless", cost=0.001)
    )
    board = leaderboard(summarize(rows), value="cost_of_pass")
    assert board.higher_is_better is False
    assert [(r.label, r.avg_rank) for r in board.rows] == [("cheap", 1.0), ("dear", 2.0), ("hopeless", 3.0)]
    assert board.rows[0].cells["gsm8k"] == pytest.approx(0.0025)
    assert board.rows[2].avg == math.inf


def test_leaderboard_rejects_unknown_values() -> None:
    with pytest.raises(ConfigError, match="unknown leaderboard value 'speed'"):
        leaderboard(summarize(rows_with(1, 2)), value="speed")


# -- Pareto front ----------------------------------------------------------


def test_pareto_front_on_hand_made_points() -> None:
    points = [(1.0, 0.4), (2.0, 0.7), (2.0, 0.5), (3.0, 0.7), (0.5, 0.1), (1.0, 0.4), (4.0, 0.9)]
    # (2, .5) loses to (2, .7) on accuracy, (3, .7) to (2, .7) on cost; the duplicate (1, .4) stays.
    assert pareto_front(points) == [4, 0, 5, 1, 6]
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 0.5)]) == [0]
    # Same cost: only the more accurate; same accuracy: only the cheaper.
    assert pareto_front([(1.0, 0.5), (1.0, 0.6)]) == [1]
    assert pareto_front([(2.0, 0.5), (1.0, 0.5)]) == [1]


# -- terminal table --------------------------------------------------------


def test_summary_table_renders_each_configuration() -> None:
    rows = rows_with(4, 10, cost=0.002, model="scripted:a") + rows_with(1, 2, model="scripted:b")
    rows.append(row(9, correct=False, model="scripted:b", status="error"))
    console = Console(record=True, width=220, color_system=None)
    console.print(summary_table(summarize(rows)))
    text = console.export_text()
    lines = {line.split("│")[2].strip(): line for line in text.splitlines() if line.count("│") > 3}
    assert set(lines) == {"cot [scripted:a]", "cot [scripted:b]"}  # brackets printed, not eaten as markup
    cells_a = [cell.strip() for cell in lines["cot [scripted:a]"].split("│")[1:-1]]
    assert cells_a == [
        "gsm8k",
        "cot [scripted:a]",
        "10",
        "40.0% (16.8–68.7)",
        "0",
        "120",
        "1.0",
        "$0.005",
        "300",
        "1.00s",
    ]
    cells_b = [cell.strip() for cell in lines["cot [scripted:b]"].split("│")[1:-1]]
    assert cells_b[2:5] == ["3", "33.3% (6.1–79.2)", "1"]
    assert cells_b[7:9] == ["$0", "360"]
