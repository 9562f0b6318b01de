"""MapCoder: recall, plans ranked by confidence, coding, sandboxed debugging, fallback."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from agorakit import ScriptedModel
from agorakit.methods.mapcoder import MapCoder, extract_code, extract_sample_tests
from agorakit.models.base import ModelRequest

TASK = '''def add(a: int, b: int) -> int:
    """Return the sum of a and b.
    >>> add(1, 2)
    3
    """
'''
GOOD = "def add(a, b):\n    return a + b"
BAD = "def add(a, b):\n    return a - b"
CRASH = "def add(a, b):\n    raise ValueError('no sums today')"


def recall(n: int = 3) -> str:
    problems = [
        {"description": f"EXAMPLE-{i}", "code": f"EXCODE-{i}", "planning": f"EXPLAN-{i}"} for i in range(1, n + 1)
    ]
    return json.dumps({"problems": problems, "algorithm": "ALGO-TUTORIAL"})


def fenced(code: str, plan: str = "") -> str:
    return f"{plan}\n```python\n{code}\n```"


def kind(request: ModelRequest) -> str:
    text = request.messages[0].content or ""
    for prefix, name in [
        ("Here is a programming problem.", "retriever"),
        ("Write a concrete plan", "planner"),
        ("Here are a programming problem and a plan", "confidence"),
        ("Write Python code", "coder"),
        ("You wrote Python code", "debugger"),
    ]:
        if text.startswith(prefix):
            return name
    raise AssertionError(f"unexpected prompt: {text[:80]}")


def model(
    confidences: dict[str, int],
    coder: Callable[[str], str],
    debugger: Callable[[int], str] | None = None,
    n: int = 3,
) -> ScriptedModel:
    """Plans are "PLAN-i" from exemplar i; ``coder(plan)`` and ``debugger(call_no)`` give code replies."""
    debug_calls = [0]

    def respond(request: ModelRequest) -> str:
        text = request.messages[0].content or ""
        who = kind(request)
        if who == "retriever":
            return recall(n)
        if who == "planner":
            number = text.split("# Example problem\nEXAMPLE-")[1][0]
            return f"PLAN-{number}"
        if who == "confidence":
            plan = text.split("# Plan\n")[1].split("\n")[0]
            return json.dumps({"explanation": "looks fine", "confidence": confidences[plan]})
        if who == "coder":
            plan = text.split("# Plan\n")[1].split("\n")[0]
            return coder(plan)
        assert debugger is not None, "the debugger was not expected"
        debug_calls[0] += 1
        return debugger(debug_calls[0])

    return ScriptedModel(respond)


def kinds(m: ScriptedModel) -> list[str]:
    return [kind(r) for r in m.requests]


async def test_code_passing_first_try_takes_1_plus_2k_plus_1_calls_and_uses_the_most_confident_plan() -> None:
    m = model({"PLAN-1": 40, "PLAN-2": 90, "PLAN-3": 70}, lambda plan: fenced(GOOD, "Here you go:"))
    result = await MapCoder(m, trace=False).run(TASK)
    assert kinds(m) == ["retriever"] + ["planner", "confidence"] * 3 + ["coder"]
    assert result.usage.calls == 8
    assert {a: u.calls for a, u in result.usage_by_agent.items()} == {
        "retriever": 1,
        "planner": 3,
        "planner_confidence": 3,
        "coder": 1,
    }
    assert result.answer == f"```python\n{GOOD}\n```"
    assert result.final_answer == GOOD

    prompts = [r.messages[0].content or "" for r in m.requests]
    assert "recall 3 relevant" in prompts[0] and TASK in prompts[0]
    # The planner sees one exemplar's description and plan, the algorithm and the sample test; never its code.
    planner = prompts[1]
    assert "EXAMPLE-1" in planner and "EXPLAN-1" in planner and "ALGO-TUTORIAL" in planner
    assert ">>> add(1, 2)\n3" in planner
    assert "EXCODE-1" not in planner and "EXAMPLE-2" not in planner
    # The confidence agent sees only the task and the plan.
    confidence = prompts[2]
    assert "PLAN-1" in confidence and TASK in confidence
    assert "ALGO-TUTORIAL" not in confidence and "EXAMPLE-1" not in confidence
    # The coder gets the top plan (90) only.
    coder = prompts[7]
    assert "# Plan\nPLAN-2" in coder and "ALGO-TUTORIAL" in coder
    assert "PLAN-1" not in coder and "PLAN-3" not in coder and "EXCODE" not in coder
    # Structured calls carry their schema; the recall gets room for k problems with code.
    assert m.requests[0].response_schema is not None and m.requests[0].sampling.max_tokens == 3072
    assert m.requests[0].response_schema["properties"]["problems"]["maxItems"] == 3
    assert m.requests[2].response_schema is not None and m.requests[1].response_schema is None
    # The test run is in the transcript.
    assert ("sandbox", "passed: >>> add(1, 2)\n3") in [(msg.name, msg.content) for msg in result.transcript]


async def test_debugger_sees_the_failing_test_output_and_its_fix_is_retested() -> None:
    replies = {1: fenced(CRASH, "PLAN-FIX-1"), 2: fenced(GOOD, "PLAN-FIX-2")}
    m = model({"PLAN-1": 80, "PLAN-2": 10, "PLAN-3": 20}, lambda plan: fenced(BAD), replies.__getitem__)
    result = await MapCoder(m, trace=False).run(TASK)
    assert kinds(m) == ["retriever"] + ["planner", "confidence"] * 3 + ["coder", "debugger", "debugger"]
    assert result.usage.calls == 10
    assert result.final_answer == GOOD

    first, second = (r.messages[0].content or "" for r in m.requests[8:10])
    # Round 1: the coder's plan and code, and the doctest report from the sandbox.
    assert "# Plan\nPLAN-1" in first and BAD in first and "ALGO-TUTORIAL" in first and TASK in first
    assert "failed: >>> add(1, 2)\n3" in first
    assert "Expected:\n    3\nGot:\n    -1" in first
    # Round 2: the debugger's own previous reply, and the new failure (the traceback of the crash).
    assert "PLAN-FIX-1" in second and CRASH in second and BAD not in second
    assert "ValueError: no sums today" in second and 'File "solution.py", line 2, in add' in second


async def test_falls_back_to_the_next_plan_after_t_failed_rounds() -> None:
    def coder(plan: str) -> str:
        return fenced(GOOD if plan == "PLAN-3" else BAD)

    m = model({"PLAN-1": 50, "PLAN-2": 90, "PLAN-3": 70}, coder, lambda n: fenced(BAD, f"FIX-{n}"))
    result = await MapCoder(m, t=2, trace=False).run(TASK)
    assert kinds(m) == ["retriever"] + ["planner", "confidence"] * 3 + ["coder", "debugger", "debugger", "coder"]
    assert result.usage.calls == 1 + 6 + (1 + 2) + 1
    coders = [r.messages[0].content or "" for r in m.requests if kind(r) == "coder"]
    assert "# Plan\nPLAN-2" in coders[0] and "# Plan\nPLAN-3" in coders[1]  # by confidence: 90, then 70
    assert result.final_answer == GOOD


async def test_when_no_plan_passes_the_last_code_is_the_answer() -> None:
    m = model({"PLAN-1": 1, "PLAN-2": 2}, lambda plan: fenced(BAD), lambda n: fenced(f"{BAD}  # {n}"), n=2)
    result = await MapCoder(m, k=2, t=1, trace=False).run(TASK)
    assert result.usage.calls == 1 + 2 * 2 + 2 * (1 + 1)
    assert result.final_answer == f"{BAD}  # 2"
    debug_prompts = [r.messages[0].content or "" for r in m.requests if kind(r) == "debugger"]
    assert "# Plan\nPLAN-2" in debug_prompts[0] and "# Plan\nPLAN-1" in debug_prompts[1]


async def test_fix_in_the_last_round_passes_and_stops_there() -> None:
    # t=2 and the second (last) repair passes: it is tested, so no fallback to the next plan.
    replies = {1: fenced(BAD), 2: fenced(GOOD)}
    m = model({"PLAN-1": 5, "PLAN-2": 4, "PLAN-3": 3}, lambda plan: fenced(BAD), replies.__getitem__)
    result = await MapCoder(m, t=2, trace=False).run(TASK)
    assert kinds(m)[7:] == ["coder", "debugger", "debugger"]
    assert result.final_answer == GOOD


async def test_without_sample_tests_the_best_plan_is_coded_once() -> None:
    m = model({"PLAN-1": 30, "PLAN-2": 30, "PLAN-3": 10}, lambda plan: fenced(f"print('{plan}')"))
    result = await MapCoder(m, trace=False).run("Natalia sold 48 clips in April and half as many in May. Total?")
    assert kinds(m) == ["retriever"] + ["planner", "confidence"] * 3 + ["coder"]
    assert result.final_answer == "print('PLAN-1')"  # a tie keeps the order of recall
    assert "(none given)" in (m.requests[1].messages[0].content or "")
    assert not any(msg.name == "sandbox" for msg in result.transcript)


async def test_recall_is_cut_to_k_and_confidence_is_clamped() -> None:
    m = model({"PLAN-1": -5, "PLAN-2": 250}, lambda plan: fenced(GOOD), n=4)
    result = await MapCoder(m, k=2, trace=False).run(TASK)
    assert kinds(m) == ["retriever"] + ["planner", "confidence"] * 2 + ["coder"]
    assert "recall 2 relevant" in (m.requests[0].messages[0].content or "")
    assert "# Plan\nPLAN-2" in (m.requests[5].messages[0].content or "")
    assert result.usage.calls == 6


def test_sample_tests_from_doctests_and_asserts() -> None:
    task = '''def f(x):
    """Twice x.
    >>> f(2)
    4
    >>> f(
    ...   3)
    6
    """
assert f(0) == 0
'''
    tests = extract_sample_tests(task)
    assert [t.shown for t in tests] == [">>> f(2)\n4", ">>> f(\n...   3)\n6", "assert f(0) == 0"]
    assert tests[2].code == "assert f(0) == 0"
    assert extract_sample_tests("What is 2 + 2?") == []


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("plan\n```python\nx = 1\n```\nthen\n```\ny = 2\n```", "x = 1"),  # a Python-labelled block is preferred
        ("```\na = 1\n```\n```\nb = 2\n```", "b = 2"),  # else the last block
        ("```python\ncut = 1\n", "cut = 1"),  # an unterminated block
        ("z = 3\n", "z = 3"),  # no fence at all
    ],
)
def test_extract_code(reply: str, code: str) -> None:
    assert extract_code(reply) == code
