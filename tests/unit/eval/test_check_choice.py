"""Multiple-choice checking (MMLU, AQUA-RAT): which letter a free-text answer picks."""

from __future__ import annotations

import pytest

from agorakit.eval.checking import check, check_choice, extract_choice
from agorakit.eval.sample import Sample

CHOICES = ["12", "24", "42", "7"]


@pytest.mark.parametrize(
    ("prediction", "letter"),
    [
        ("B", "B"),
        ("(C)", "C"),
        ("D.", "D"),
        ("**C**", "C"),
        ("The answer is (B).", "B"),
        ("Answer: D", "D"),
        ("answer is: **C) 42**", "C"),
        ("The correct option is C, 42", "C"),  # a lettered option restated in prose
        ("Option A is wrong, option C is correct.", "C"),
        ("I pick option D.", "D"),
        ("Between A) 12 and B) 24 I choose \\boxed{C}", "C"),
        ("\\boxed{\\text{B}}", "B"),
        ("Let me think step by step.\nThe sum is 42.\nC", "C"),
        ("Comparing them, (A) fails and (B) fits.", "B"),
        ("The answer is 42.", "C"),  # the option's text, matching exactly one option
        ("42", "C"),
    ],
)
def test_extract_choice(prediction: str, letter: str) -> None:
    assert extract_choice(prediction, CHOICES) == letter


@pytest.mark.parametrize(
    "prediction",
    [
        "A train leaves the station at 5 pm and arrives at 7 pm.",  # the article, not option A
        "A good way to see it: the sum is large.",
        "The answer is a number I cannot find.",
        "I think it is E.",  # not one of the four options
        "",
    ],
)
def test_no_choice(prediction: str) -> None:
    assert extract_choice(prediction, CHOICES) is None


def test_article_a_then_a_real_answer() -> None:
    assert extract_choice("A train leaves at 5. So the answer is B.", CHOICES) == "B"


def test_letters_default_to_a_to_e_without_choices() -> None:
    assert extract_choice("The answer is E") == "E"
    assert extract_choice("The answer is F") is None


def test_option_text_must_name_one_option_only() -> None:
    assert extract_choice("7", ["7", "7", "8"]) is None  # two options read "7"


def test_check_choice_verdicts() -> None:
    assert check_choice("C", "The correct option is C, 42", CHOICES).correct
    wrong = check_choice("C", "The answer is (B)", CHOICES)
    assert (wrong.correct, wrong.extracted, wrong.reason) == (False, "B", "B != C")
    none = check_choice("A", "A train leaves the station.", CHOICES)
    assert (none.correct, none.extracted, none.reason) == (False, None, "no option letter in the prediction")


async def test_check_dispatches_choice_samples_with_their_choices() -> None:
    sample = Sample("mmlu", "x/1", "2+2?", "B", "choice", {"choices": ["3", "4", "5", "6"]})
    verdict = await check(sample, "It is clearly 4.\n\nFinal answer: 4")
    assert (verdict.correct, verdict.extracted) == (True, "B")


async def test_text_samples_need_a_judge() -> None:
    sample = Sample("free", "1", "Capital of France?", "Paris", "text")
    verdict = await check(sample, "  Paris.  ")
    assert (verdict.correct, verdict.extracted, verdict.reason) == (False, "Paris.", "needs a judge")
