"""Reflexion: actor, evaluator, reflections in a bounded episodic memory."""

from __future__ import annotations

import json
from collections.abc import Callable

from agorakit import ScriptedModel
from agorakit.methods.reflexion import ACTOR, EVALUATOR, MEMORY_HEADER, REFLECTOR, Reflexion
from agorakit.models.base import ModelRequest

TASK = "What is 6 * 7?"


def role(request: ModelRequest) -> str:
    return {ACTOR: "actor", EVALUATOR: "evaluator", REFLECTOR: "reflector"}[request.messages[0].content or ""]


def user_text(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


def responder(success_at: int | None) -> Callable[[ModelRequest], str]:
    """Attempt i answers 40+i; the evaluator accepts attempt ``success_at``; reflection i is 'lesson i'."""
    counts = {"actor": 0, "evaluator": 0, "reflector": 0}

    def answer(request: ModelRequest) -> str:
        who = role(request)
        counts[who] += 1
        n = counts[who]
        if who == "actor":
            return f"attempt {n}. The answer is {40 + n}"
        if who == "reflector":
            return f"lesson {n}"
        return json.dumps({"correct": n == success_at, "reason": f"reason {n}"})

    return answer


async def test_success_on_the_first_trial_is_two_calls() -> None:
    model = ScriptedModel(responder(success_at=1))
    result = await Reflexion(model, trace=False).run(TASK)
    assert [role(r) for r in model.requests] == ["actor", "evaluator"]
    assert result.final_answer == "41"
    # First trial: no memory shown.
    assert user_text(model.requests[0]) == TASK


async def test_stops_exactly_on_success() -> None:
    model = ScriptedModel(responder(success_at=3))
    result = await Reflexion(model, trace=False).run(TASK)
    assert [role(r) for r in model.requests] == ["actor", "evaluator", "reflector"] * 2 + ["actor", "evaluator"]
    assert result.final_answer == "43"
    assert result.usage.calls == 8


async def test_all_trials_failing_is_three_t_minus_one_calls_and_no_last_reflection() -> None:
    model = ScriptedModel(responder(success_at=None))
    result = await Reflexion(model, trace=False).run(TASK)
    assert len(model.requests) == 3 * 5 - 1
    assert [role(r) for r in model.requests][-2:] == ["actor", "evaluator"]
    assert result.usage_by_agent["actor"].calls == 5
    assert result.usage_by_agent["reflector"].calls == 4
    assert result.final_answer == "45"  # the last attempt


async def test_second_trial_actor_sees_the_first_reflection() -> None:
    model = ScriptedModel(responder(success_at=2))
    await Reflexion(model, trace=False).run(TASK)
    actors = [user_text(r) for r in model.requests if role(r) == "actor"]
    assert MEMORY_HEADER in actors[1] and "lesson 1" in actors[1]
    assert actors[1].startswith(TASK)
    # The actor sees reflections, not its earlier attempt or the evaluator's reason.
    assert "attempt 1" not in actors[1] and "reason 1" not in actors[1]


async def test_reflector_sees_the_failed_attempt_and_the_evaluators_reason() -> None:
    model = ScriptedModel(responder(success_at=2))
    await Reflexion(model, trace=False).run(TASK)
    reflection_prompt = user_text(next(r for r in model.requests if role(r) == "reflector"))
    assert TASK in reflection_prompt and "attempt 1." in reflection_prompt and "reason 1" in reflection_prompt


async def test_memory_keeps_only_the_last_three_reflections() -> None:
    model = ScriptedModel(responder(success_at=None))
    await Reflexion(model, max_trials=6, trace=False).run(TASK)
    actors = [user_text(r) for r in model.requests if role(r) == "actor"]
    assert len(actors) == 6
    assert "lesson" not in actors[0]
    assert "lesson 1" in actors[1] and "lesson 2" not in actors[1]
    assert all(f"lesson {i}" in actors[3] for i in (1, 2, 3))
    # Trial 5 has had four reflections; the oldest is dropped.
    assert "lesson 1" not in actors[4] and all(f"lesson {i}" in actors[4] for i in (2, 3, 4))
    assert "lesson 2" not in actors[5] and all(f"lesson {i}" in actors[5] for i in (3, 4, 5))


async def test_memory_size_is_configurable() -> None:
    model = ScriptedModel(responder(success_at=None))
    await Reflexion(model, max_trials=3, memory_size=1, trace=False).run(TASK)
    actors = [user_text(r) for r in model.requests if role(r) == "actor"]
    assert "lesson 2" in actors[2] and "lesson 1" not in actors[2]


async def test_evaluator_sees_the_task_and_the_attempt() -> None:
    model = ScriptedModel(responder(success_at=1))
    await Reflexion(model, trace=False).run(TASK)
    evaluation = model.requests[1]
    assert TASK in user_text(evaluation) and "attempt 1." in user_text(evaluation)
    assert evaluation.response_schema is not None and set(evaluation.response_schema["properties"]) == {
        "correct",
        "reason",
    }
    assert all(r.sampling.temperature == 0.0 for r in model.requests)
