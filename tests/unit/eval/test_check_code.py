"""Code checking (HumanEval, MBPP): the extracted code and the dataset's tests run in the sandbox (pass@1)."""

from __future__ import annotations

import pytest

from agorakit.eval.checking import check, check_code
from agorakit.eval.checking.extract import last_code_block
from agorakit.eval.datasets import load_dataset
from agorakit.eval.sample import Sample

TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def fenced(code: str, language: str = "python") -> str:
    return f"Here is my solution:\n\n```{language}\n{code}```\n\nIt adds the numbers."


def test_last_code_block() -> None:
    text = "```python\nx = 1\n```\nthen\n```\nplain\n```\nthen\n```python\nx = 2\n```\n```text\nout\n```"
    assert last_code_block(text) == "x = 2\n"
    assert last_code_block("```\ny = 3\n```") == "y = 3\n"
    assert last_code_block("def f():\n    return 1\n") == "def f():\n    return 1\n"  # no fence: the whole text
    assert last_code_block("```python\ndef f():\n    return 1") == "def f():\n    return 1"  # cut off mid-block


@pytest.fixture(scope="module")
def humaneval() -> list[Sample]:
    return load_dataset("humaneval")


async def test_humaneval_0_canonical_solution_passes(humaneval: list[Sample]) -> None:
    sample = humaneval[0]
    full_function = sample.meta["setup"] + sample.meta["canonical_solution"]
    verdict = await check(sample, fenced(full_function))
    assert (verdict.correct, verdict.reason) == (True, "all tests passed")
    assert verdict.extracted == full_function


async def test_humaneval_body_only_reply_is_appended_to_the_prompt(humaneval: list[Sample]) -> None:
    sample = humaneval[0]
    verdict = await check(sample, sample.meta["canonical_solution"])
    assert verdict.correct, verdict


async def test_humaneval_function_without_the_prompts_import_still_runs(humaneval: list[Sample]) -> None:
    # The prompt runs first, so `List` from its `from typing import List` is defined.
    code = (
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1 :])\n"
    )
    assert (await check(humaneval[0], fenced(code))).correct


async def test_humaneval_wrong_function_fails_its_asserts(humaneval: list[Sample]) -> None:
    code = "def has_close_elements(numbers, threshold):\n    return True\n"
    verdict = await check(humaneval[0], fenced(code))
    assert (verdict.correct, verdict.reason) == (
        False,
        "AssertionError: assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False",
    )


async def test_mbpp_reference_code_passes() -> None:
    sample = next(s for s in load_dataset("mbpp") if s.id == "11")
    verdict = await check(sample, fenced(sample.meta["reference_code"]))
    assert (verdict.correct, verdict.reason) == (True, "all tests passed")


async def test_mbpp_tests_with_imports() -> None:
    sample = next(s for s in load_dataset("mbpp") if s.meta["test_imports"])
    assert sample.answer.startswith("import math\n")
    assert (await check(sample, fenced(sample.meta["reference_code"]))).correct


async def test_failing_assert() -> None:
    verdict = await check_code(TESTS, fenced("def add(a, b):\n    return a - b\n"))
    assert (verdict.correct, verdict.reason) == (False, "AssertionError: assert add(2, 3) == 5")


async def test_passing_code() -> None:
    verdict = await check_code(TESTS, fenced("def add(a, b):\n    return a + b\n"))
    assert (verdict.correct, verdict.extracted, verdict.reason) == (
        True,
        "def add(a, b):\n    return a + b\n",
        "all tests passed",
    )


async def test_infinite_loop_times_out() -> None:
    verdict = await check_code(TESTS, fenced("def add(a, b):\n    while True:\n        pass\n"), timeout=2.0)
    assert (verdict.correct, verdict.reason) == (False, "timeout")


async def test_syntax_error_reason_is_its_last_line() -> None:
    verdict = await check_code(TESTS, fenced("def add(a, b)\n    return a + b\n"))
    assert (verdict.correct, verdict.reason) == (False, "SyntaxError: expected ':'")


async def test_name_error_in_tests() -> None:
    verdict = await check_code(TESTS, fenced("def plus(a, b):\n    return a + b\n"))
    assert (verdict.correct, verdict.reason) == (False, "tests: NameError: name 'add' is not defined")


async def test_exiting_early_does_not_skip_the_tests() -> None:
    verdict = await check_code(TESTS, fenced("import sys\ndef add(a, b):\n    return 0\nsys.exit(0)\n"))
    assert (verdict.correct, verdict.reason) == (False, "AssertionError: assert add(2, 3) == 5")


async def test_empty_prediction() -> None:
    verdict = await check_code(TESTS, "   ")
    assert (verdict.correct, verdict.extracted, verdict.reason) == (False, None, "no code in the prediction")
