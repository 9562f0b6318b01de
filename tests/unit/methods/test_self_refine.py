"""Self-Refine: generate, feedback with a stop flag, refine with the whole history."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from agorakit import ScriptedModel
from agorakit.methods.self_refine import FEEDBACK, GENERATE, REFINE, SelfRefine
from agorakit.models.base import ModelRequest

TASK = "What is 6 * 7?"


def fb(text: str, stop: bool) -> str:
    return json.dumps({"feedback": text, "stop": stop})


def role(request: ModelRequest) -> str:
    system = request.messages[0].content or ""
    return {GENERATE: "generator", FEEDBACK: "feedback", REFINE: "refiner"}[system]


def user_text(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


def responder(stop_at: int | None) -> Callable[[ModelRequest], str]:
    """Drafts are 'draft 0', 'draft 1', ...; feedback number i says stop when i == stop_at."""
    counts = {"generator": 0, "feedback": 0, "refiner": 0}

    def answer(request: ModelRequest) -> str:
        who = role(request)
        counts[who] += 1
        if who == "generator":
            return "draft 0. The answer is 40"
        if who == "refiner":
            return f"draft {counts['refiner']}. The answer is {40 + counts['refiner']}"
        index = counts["feedback"]
        return fb(f"note {index}", stop_at == index)

    return answer


async def test_stop_at_the_first_feedback_is_two_calls() -> None:
    model = ScriptedModel(responder(stop_at=1))
    result = await SelfRefine(model, trace=False).run(TASK)
    assert [role(r) for r in model.requests] == ["generator", "feedback"]
    assert result.answer == "draft 0. The answer is 40"
    assert result.final_answer == "40"
    assert result.usage.calls == 2


async def test_never_stopping_runs_max_iterations_refinements() -> None:
    model = ScriptedModel(responder(stop_at=None))
    result = await SelfRefine(model, trace=False).run(TASK)
    # 1 generation + 4 x (feedback, refine); no feedback on the last draft.
    assert [role(r) for r in model.requests] == ["generator"] + ["feedback", "refiner"] * 4
    assert len(model.requests) == 9
    assert result.answer == "draft 4. The answer is 44"
    assert result.usage_by_agent["feedback"].calls == 4
    assert result.usage_by_agent["refiner"].calls == 4


async def test_stop_at_the_third_feedback_keeps_that_draft() -> None:
    model = ScriptedModel(responder(stop_at=3))
    result = await SelfRefine(model, max_iterations=5, trace=False).run(TASK)
    assert [role(r) for r in model.requests] == ["generator", "feedback", "refiner", "feedback", "refiner", "feedback"]
    assert result.final_answer == "42"


async def test_max_iterations_is_configurable() -> None:
    model = ScriptedModel(responder(stop_at=None))
    await SelfRefine(model, max_iterations=2, trace=False).run(TASK)
    assert len(model.requests) == 5


async def test_refiner_sees_every_earlier_draft_and_feedback_feedback_sees_only_the_current_draft() -> None:
    model = ScriptedModel(responder(stop_at=None))
    await SelfRefine(model, max_iterations=3, trace=False).run(TASK)
    refines = [user_text(r) for r in model.requests if role(r) == "refiner"]
    feedbacks = [user_text(r) for r in model.requests if role(r) == "feedback"]
    last = refines[-1]
    for text in ["draft 0.", "draft 1.", "draft 2.", "note 1", "note 2", "note 3", TASK]:
        assert text in last
    # The history is in order: draft, its feedback, next draft, ...
    order = [last.index(s) for s in ["draft 0.", "note 1", "draft 1.", "note 2", "draft 2.", "note 3"]]
    assert order == sorted(order)
    # The first refinement only had the first draft and its feedback.
    assert "note 1" in refines[0] and "note 2" not in refines[0]
    # Feedback judges the current draft only, without earlier feedback.
    assert "draft 2." in feedbacks[2] and "draft 1." not in feedbacks[2] and "note" not in feedbacks[2]
    assert TASK in feedbacks[0]


async def test_sampling_follows_the_official_runs() -> None:
    model = ScriptedModel(responder(stop_at=None))
    await SelfRefine(model, max_iterations=1, trace=False).run(TASK)
    temperatures = [(role(r), r.sampling.temperature) for r in model.requests]
    assert temperatures == [("generator", 0.0), ("feedback", 0.7), ("refiner", 0.7)]


async def test_invalid_feedback_is_retried_as_structured_output() -> None:
    model = ScriptedModel(["The answer is 42", '```json\n{"feedback": "ok"}\n```', fb("correct", True)])
    result = await SelfRefine(model, trace=False).run(TASK)
    assert len(model.requests) == 3
    assert "stop: Field required" in (model.requests[2].messages[-1].content or "")
    assert result.final_answer == "42"


@pytest.mark.parametrize("stop_at", [1, 2, 4])
async def test_calls_are_one_plus_two_per_refinement(stop_at: int) -> None:
    model = ScriptedModel(responder(stop_at=stop_at))
    await SelfRefine(model, trace=False).run(TASK)
    assert len(model.requests) == 1 + 2 * (stop_at - 1) + 1
