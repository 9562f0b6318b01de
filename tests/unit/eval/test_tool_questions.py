"""The seeded tool questions and how answers to them are scored."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from agorakit.eval.tool_questions import CATEGORIES, ToolQuestion, score, tool_questions
from agorakit.tools.builtin import evaluate, format_number


def test_the_same_seed_gives_the_same_questions_and_another_seed_others() -> None:
    first = tool_questions(7, 4)
    assert first == tool_questions(7, 4)
    assert len(first) == 4 * len(CATEGORIES)
    assert [q.text for q in first] != [q.text for q in tool_questions(8, 4)]


def test_expected_answers_are_what_the_calculator_gives_for_the_asked_expression() -> None:
    questions = tool_questions(3, 20, ["integer", "negative", "decimal", "division", "large"])
    for question in questions:
        match = re.search(r"-?\d+(?:\.\d+)? [-+*/] \d+(?:\.\d+)?", question.text)
        assert match is not None, question
        assert format_number(evaluate(match.group())) == question.expected
    assert all(float(q.expected) < 0 for q in questions if q.category == "negative")


def test_unknown_categories_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown categories"):
        tool_questions(1, 1, ["integer", "poetry"])


QUESTION = ToolQuestion("integer", "Compute 80 - 89.", "calculator", "-9")


@pytest.mark.parametrize(
    ("output", "exact", "echo"),
    [
        ("-9", True, False),
        ("80 - 89 = -9", True, False),
        ("The answer is -9.", True, False),
        ("80 - 89", False, True),
        ("19", False, False),
        ("", False, False),
        (None, False, False),
    ],
)
def test_numbers_are_exact_when_the_last_number_is_the_result(output: str | None, exact: bool, echo: bool) -> None:
    verdict = score(QUESTION, output, ["calculator"])
    assert (verdict.exact, verdict.echo, verdict.wrong_tool) == (exact, echo, False)


def test_a_call_to_another_tool_is_a_wrong_tool() -> None:
    assert score(QUESTION, "-9", ["current_time", "calculator"]).wrong_tool is True


def test_thousands_separators_and_decimals_compare_as_numbers() -> None:
    big = ToolQuestion("large", "What is 1000 * 1234?", "calculator", "1234000")
    assert score(big, "1,234,000", []).exact is True
    decimal = ToolQuestion("decimal", "What is 0.1 + 0.2?", "calculator", "0.3")
    assert score(decimal, "0.3", []).exact is True
    assert score(decimal, "0.31", []).exact is False


def test_the_clock_is_exact_with_the_zones_date_and_minute() -> None:
    now = datetime(2026, 12, 4, 20, 17, 33, tzinfo=UTC)
    question = ToolQuestion("time", "What time is it in Tokyo?", "current_time", "Asia/Tokyo")
    assert score(question, "2026-12-05T05:17:33+09:00", [], now=now).exact is True
    assert score(question, "It is 2026-12-05 05:18 in Tokyo.", [], now=now).exact is True
    assert score(question, "2026-12-04T20:17:33+00:00", [], now=now).exact is False
    assert score(question, "Tokyo", [], now=now).echo is True
