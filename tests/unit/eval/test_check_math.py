"""Math answer checking (MATH-500): extraction of the final expression, math_verify equivalence, the time limit."""

from __future__ import annotations

import pytest

from agorakit.eval.checking import check, check_math, check_math_bounded, extract_math
from agorakit.eval.checking.extract import last_boxed
from agorakit.eval.checking.mathexpr import normalize
from agorakit.eval.datasets import load_dataset
from agorakit.eval.sample import Sample


def test_last_boxed_keeps_nested_braces() -> None:
    text = r"First \boxed{1}. Then \boxed{\frac{\sqrt{3}}{2}} is it."
    assert last_boxed(text) == r"\frac{\sqrt{3}}{2}"
    assert last_boxed(r"\boxed{\{1, 2\}}") == r"\{1, 2\}"  # escaped braces do not count
    assert last_boxed(r"unclosed \boxed{\frac{1}{2}") is None
    assert last_boxed(r"\fbox{7}") == "7"


@pytest.mark.parametrize(
    ("prediction", "extracted"),
    [
        (r"So $x = 2$ and the answer is \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
        ("The final answer is $\\frac{\\pi}{2}$. I hope it is correct.", r"\frac{\pi}{2}"),
        ("Final answer: 1/2.", "1/2"),
        ("We compute and get $\\sqrt{2}$ in the end", r"\sqrt{2}"),
        ("It comes to 12 in total", "12"),
        ("No idea.", None),
    ],
)
def test_extract_math(prediction: str, extracted: str | None) -> None:
    assert extract_math(prediction) == extracted


def test_normalize() -> None:
    assert normalize(r"\left( 3, \dfrac{\pi}{2} \right)") == r"(3,\frac{\pi}{2})"
    assert normalize(r"90^\circ") == "90"
    assert normalize(r"\text{(C)}.") == "(C)"


@pytest.mark.parametrize(
    ("answer", "prediction"),
    [
        (r"\frac{1}{2}", r"\boxed{0.5}"),
        (r"\frac{1}{2}", r"\boxed{\dfrac{2}{4}}"),  # equivalent fractions
        (r"\frac{1}{2}", "The final answer is 1/2."),
        ("0.5", r"\boxed{\frac{1}{2}}"),
        ("3", r"\boxed{x = 3}"),
        (r"\left( 3, \frac{\pi}{2} \right)", r"\boxed{(3,\frac{\pi}{2})}"),
        (r"(-\infty, 2]", r"\boxed{(-\infty,2]}"),
        (r"2\sqrt{2}", r"\boxed{\sqrt{8}}"),
        (r"\text{(C)}", r"\boxed{\text{(C)}}"),
        ("10", r"\boxed{10}"),
    ],
)
def test_equivalent(answer: str, prediction: str) -> None:
    verdict = check_math(answer, prediction)
    assert verdict.correct, verdict


@pytest.mark.parametrize(
    ("answer", "prediction", "extracted"),
    [
        (r"\frac{1}{2}", r"\boxed{\frac{1}{3}}", r"\frac{1}{3}"),
        ("[1, 2)", r"\boxed{(1,2)}", "(1,2)"),  # an open interval is not a half-open one
        (r"2\sqrt{2}", r"\boxed{2\sqrt{3}}", r"2\sqrt{3}"),
    ],
)
def test_not_equivalent(answer: str, prediction: str, extracted: str) -> None:
    verdict = check_math(answer, prediction)
    assert (verdict.correct, verdict.extracted, verdict.reason) == (False, extracted, "not equivalent (math_verify)")


def test_no_answer() -> None:
    verdict = check_math("3", "I cannot solve this.")
    assert (verdict.correct, verdict.extracted) == (False, None)


def test_every_math500_reference_solution_checks_correct() -> None:
    samples = load_dataset("math500")
    wrong = [s.id for s in samples if not check_math(s.answer, s.meta["solution"]).correct]
    assert wrong == []


async def test_bounded_check_agrees_with_the_direct_one() -> None:
    verdict = await check_math_bounded(r"\frac{1}{2}", r"so \boxed{\dfrac{2}{4}}")
    assert (verdict.correct, verdict.extracted, verdict.reason) == (True, r"\dfrac{2}{4}", "equivalent (math_verify)")


async def test_runaway_sympy_is_cut_by_the_timeout() -> None:
    # sympy would compute 9^(9^9) for minutes: the worker process is killed instead.
    verdict = await check_math_bounded("5", r"\boxed{9^{9^{9}}}", timeout=2.0)
    assert (verdict.correct, verdict.extracted, verdict.reason) == (False, "9^{9^{9}}", "timeout")
    after = await check_math_bounded("5", r"\boxed{5}", timeout=30.0)  # a fresh worker takes over
    assert after.correct


async def test_check_dispatches_math_samples() -> None:
    sample = Sample("math500", "t", "What is 1/2 + 1/4?", r"\frac{3}{4}", "math")
    assert (await check(sample, r"\boxed{0.75}")).correct
    assert not (await check(sample, r"\boxed{0.7}")).correct
