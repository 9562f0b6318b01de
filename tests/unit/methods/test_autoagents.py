"""AutoAgents: drafting rounds stop on approval; one call per plan step; step i sees steps < i."""

from __future__ import annotations

import json

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.autoagents import AutoAgents, Draft
from agorakit.models.base import ModelRequest

TASK = "Natalia sold 48 clips in April and half as many in May. How many in total?"


def who(request: ModelRequest) -> str:
    system = request.messages[0].content or ""
    if system.startswith("You are a manager"):
        return "planner"
    if system.startswith("You check a team"):
        return "observer_agents"
    if system.startswith("You check an execution plan"):
        return "observer_plan"
    return "expert"


def draft(version: int, steps: int = 3) -> str:
    experts = [
        {"name": "Math Expert", "description": f"does arithmetic (v{version})"},
        {"name": "Language Expert", "description": "summarises"},
    ]
    plan = [{"expert": "Math Expert", "instruction": f"compute part {i} (v{version})"} for i in range(1, steps)]
    plan.append({"expert": "Language Expert", "instruction": "answer the question"})
    return json.dumps({"experts": experts, "plan": plan})


def scripted(approve_round: int | None, steps: int = 3, agents_only: bool = False) -> ScriptedModel:
    """Observers approve from round ``approve_round`` on (the plan observer never, if ``agents_only``)."""
    counts = {"planner": 0, "observer_agents": 0, "observer_plan": 0, "expert": 0}

    def respond(request: ModelRequest) -> str:
        agent = who(request)
        counts[agent] += 1
        n = counts[agent]
        if agent == "planner":
            return draft(n, steps)
        if agent.startswith("observer"):
            approved = approve_round is not None and n >= approve_round
            if agent == "observer_plan" and agents_only:
                approved = False
            return json.dumps({"suggestions": f"{agent} suggestion {n}", "approved": approved})
        return f"RESULT {n}: the answer is {70 + n}"

    return ScriptedModel(respond)


@pytest.mark.parametrize(("approve_round", "rounds"), [(1, 1), (2, 2), (3, 3), (None, 3)])
async def test_drafting_stops_when_both_observers_approve(approve_round: int | None, rounds: int) -> None:
    model = scripted(approve_round)
    result = await AutoAgents(model, trace=False).run(TASK)
    agents = [who(r) for r in model.requests]
    assert agents == ["planner", "observer_agents", "observer_plan"] * rounds + ["expert"] * 3
    assert len(model.requests) == 3 * rounds + 3
    assert result.answer == "RESULT 3: the answer is 73"
    assert result.final_answer == "73"
    # The plan executed is the last draft's.
    first_step = model.requests[3 * rounds].messages[1].content or ""
    assert f"compute part 1 (v{rounds})" in first_step


async def test_one_observer_approving_is_not_enough() -> None:
    model = scripted(1, agents_only=True)
    await AutoAgents(model, max_rounds=2, trace=False).run(TASK)
    assert [who(r) for r in model.requests][:6] == ["planner", "observer_agents", "observer_plan"] * 2
    assert len(model.requests) == 6 + 3


async def test_redraft_sees_previous_draft_and_both_observers_suggestions() -> None:
    model = scripted(2)
    await AutoAgents(model, trace=False).run(TASK)
    first, agents1, plan1, second = model.requests[:4]
    assert "previous draft" not in (first.messages[1].content or "")
    redraft = second.messages[1].content or ""
    assert "compute part 1 (v1)" in redraft and "does arithmetic (v1)" in redraft
    assert "observer_agents suggestion 1" in redraft and "observer_plan suggestion 1" in redraft
    # The agent observer sees the team but not the plan; the plan observer sees both and the team suggestions.
    agents_prompt = agents1.messages[1].content or ""
    assert "does arithmetic (v1)" in agents_prompt and "compute part" not in agents_prompt
    plan_prompt = plan1.messages[1].content or ""
    assert "compute part 1 (v1)" in plan_prompt and "Math Expert" in plan_prompt
    assert "observer_agents suggestion 1" in plan_prompt


async def test_execution_is_one_call_per_step_and_step_i_sees_only_earlier_steps() -> None:
    model = scripted(1, steps=4)
    result = await AutoAgents(model, trace=False).run(TASK)
    steps = model.requests[3:]
    assert len(steps) == 4
    assert set(result.usage_by_agent) == {
        "planner",
        "observer_agents",
        "observer_plan",
        "expert_math_expert",
        "expert_language_expert",
    }
    assert result.usage_by_agent["expert_math_expert"].calls == 3
    for i, request in enumerate(steps, 1):
        prompt = request.messages[1].content or ""
        assert TASK in prompt
        for j in range(1, 5):
            assert (f"RESULT {j}:" in prompt) == (j < i), (i, j)
        assert "suggestion" not in prompt  # observers' talk is not shown to the experts
    assert (steps[0].messages[0].content or "").startswith("You are Math Expert, an expert: does arithmetic (v1)")
    assert (steps[3].messages[0].content or "").startswith("You are Language Expert")
    assert "This is the final step" in (steps[3].messages[1].content or "")
    assert "This is the final step" not in (steps[2].messages[1].content or "")
    assert result.answer == "RESULT 4: the answer is 74"


async def test_max_steps_truncates_the_plan() -> None:
    model = scripted(1, steps=5)
    await AutoAgents(model, max_steps=2, trace=False).run(TASK)
    assert len(model.requests) == 3 + 2


async def test_unknown_expert_and_empty_draft_fall_back() -> None:
    replies = iter(
        [
            json.dumps({"experts": [], "plan": []}),
            json.dumps({"suggestions": "ok", "approved": True}),
            json.dumps({"suggestions": "ok", "approved": True}),
            "The answer is 72",
        ]
    )
    model = ScriptedModel(lambda request: next(replies))
    result = await AutoAgents(model, trace=False).run(TASK)
    assert result.final_answer == "72"
    assert list(result.usage_by_agent)[-1] == "expert_problem_solver"


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="max_rounds"):
        AutoAgents(ScriptedModel([]), max_rounds=0)


def test_draft_schema_bounds_lists_and_trims_overlong_output() -> None:
    schema = Draft.model_json_schema()
    assert schema["properties"]["experts"]["maxItems"] == 5
    assert schema["properties"]["plan"]["maxItems"] == 8
    many = {
        "experts": [{"name": "A" * 100, "description": "d"}] * 9,
        "plan": [{"expert": "A", "instruction": "i"}] * 12,
    }
    parsed = Draft.model_validate(many)
    assert len(parsed.experts) == 5 and len(parsed.plan) == 8 and parsed.experts[0].name == "A" * 60


async def test_drafting_calls_get_room_for_a_long_draft() -> None:
    model = scripted(1)
    await AutoAgents(model, trace=False).run(TASK)
    assert [r.sampling.max_tokens for r in model.requests[:3]] == [2048, 2048, 2048]
    assert model.requests[3].sampling.max_tokens is None
