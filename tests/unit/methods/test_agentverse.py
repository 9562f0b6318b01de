"""AgentVerse: recruitment, vertical / horizontal decision-making, execution, evaluation, rounds."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.agentverse import (
    CRITIC,
    DISCUSSANT,
    EVALUATOR,
    EXECUTOR,
    NO_ADVICE,
    RECRUITER,
    SOLVER,
    AgentVerse,
)
from agorakit.models.base import ModelRequest

TASK = "What is 6 * 7?"


def system(request: ModelRequest) -> str:
    return request.messages[0].content or ""


def user_text(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


def role(request: ModelRequest) -> str:
    text = system(request)
    if text == RECRUITER:
        return "recruiter"
    for marker, name in ((SOLVER, "solver"), (CRITIC, "critic"), (DISCUSSANT, "expert"), (EXECUTOR, "executor")):
        if text.endswith(marker) or text == marker:
            return name
    assert text == EVALUATOR
    return "evaluator"


def expert_of(request: ModelRequest) -> str:
    """'expert r.k' from a system message 'You are expert r.k. ...' (round r, position k)."""
    return system(request).split(". ")[0].removeprefix("You are ")


def responder(
    *,
    accept_round: int | None = 1,
    agree: Callable[[int, str], bool] = lambda turn, expert: True,
) -> Callable[[ModelRequest], str]:
    """Recruits 'expert <round>.<k>'; solver drafts 'plan <n>'; critics agree per ``agree(turn, expert)``."""
    counts = {"recruiter": 0, "solver": 0, "evaluator": 0, "executor": 0}
    turns: dict[str, int] = {}

    def answer(request: ModelRequest) -> str:
        who = role(request)
        if who == "recruiter":
            counts["recruiter"] += 1
            r = counts["recruiter"]
            return json.dumps({"experts": [f"expert {r}.{k}" for k in range(1, 9)]})
        if who == "solver":
            counts["solver"] += 1
            return f"plan {counts['solver']}. The answer is {40 + counts['solver']}"
        if who == "critic":
            name = expert_of(request)
            turns[name] = turns.get(name, 0) + 1
            verdict = agree(turns[name], name)
            return json.dumps({"critique": f"critique by {name} turn {turns[name]}", "agree": verdict})
        if who == "expert":
            return f"view of {expert_of(request)}"
        if who == "executor":
            counts["executor"] += 1
            return f"executed {counts['executor']}. The answer is 42"
        counts["evaluator"] += 1
        n = counts["evaluator"]
        return json.dumps({"correct": n == accept_round, "advice": f"advice {n}: recruit a checker"})

    return answer


async def test_vertical_with_agreeing_critics_is_one_call_per_expert_plus_three() -> None:
    model = ScriptedModel(responder())
    result = await AgentVerse(model, experts=3, trace=False).run(TASK)
    roles = [role(r) for r in model.requests]
    assert roles == ["recruiter", "solver", "critic", "critic", "evaluator"]
    assert result.answer == "plan 1. The answer is 41"
    assert set(result.usage_by_agent) == {"recruiter", "solver", "critic_1", "critic_2", "evaluator"}


@pytest.mark.parametrize(("experts", "calls"), [(2, 9), (3, 12), (4, 15)])
async def test_vertical_critics_that_never_agree_run_max_critic_rounds(experts: int, calls: int) -> None:
    model = ScriptedModel(responder(agree=lambda turn, expert: False))
    result = await AgentVerse(model, experts=experts, trace=False).run(TASK)
    # recruit + first plan + 3 x (N-1 critiques + revised plan) + evaluation
    assert len(model.requests) == calls == 1 + 1 + 3 * (experts - 1 + 1) + 1
    assert result.answer == "plan 4. The answer is 44"


async def test_vertical_stops_when_all_critics_agree() -> None:
    # expert 1.2 objects on its first turn only; expert 1.3 always agrees.
    model = ScriptedModel(responder(agree=lambda turn, expert: not (expert == "expert 1.2" and turn == 1)))
    await AgentVerse(model, experts=3, trace=False).run(TASK)
    roles = [role(r) for r in model.requests]
    assert roles == ["recruiter", "solver", "critic", "critic", "solver", "critic", "critic", "evaluator"]


async def test_critics_see_the_proposal_and_the_solver_sees_only_objections() -> None:
    model = ScriptedModel(responder(agree=lambda turn, expert: not (expert == "expert 1.2" and turn == 1)))
    await AgentVerse(model, experts=3, trace=False).run(TASK)
    critics = [r for r in model.requests if role(r) == "critic"]
    solvers = [r for r in model.requests if role(r) == "solver"]
    # The solver is the first recruited expert; critics are the others.
    assert all(expert_of(r) == "expert 1.1" for r in solvers)
    assert sorted(expert_of(r) for r in critics[:2]) == ["expert 1.2", "expert 1.3"]
    for critic in critics[:2]:
        assert "plan 1." in user_text(critic) and TASK in user_text(critic)
        assert "critique by" not in user_text(critic)  # same-turn critics do not see each other
    revision = user_text(solvers[1])
    assert "plan 1." in revision and "critique by expert 1.2 turn 1" in revision
    assert "expert 1.3" not in revision  # an agreeing critique is not passed on
    # Second critic turn sees the revised plan and the earlier objection.
    assert all("plan 2." in user_text(c) and "critique by expert 1.2 turn 1" in user_text(c) for c in critics[2:])
    assert all(c.sampling.temperature == 0.3 for c in critics)
    assert all(s.sampling.temperature == 0.0 for s in solvers)


async def test_horizontal_discussants_speak_in_turn_seeing_earlier_speakers() -> None:
    model = ScriptedModel(responder())
    result = await AgentVerse(model, experts=4, decision="horizontal", trace=False).run(TASK)
    roles = [role(r) for r in model.requests]
    assert roles == ["recruiter", "expert", "expert", "expert", "solver", "evaluator"]
    speakers = [r for r in model.requests if role(r) == "expert"]
    assert [expert_of(r) for r in speakers] == ["expert 1.2", "expert 1.3", "expert 1.4"]
    assert "view of" not in user_text(speakers[0])
    assert "view of expert 1.2" in user_text(speakers[1]) and "view of expert 1.3" not in user_text(speakers[1])
    assert all(f"view of expert 1.{k}" in user_text(speakers[2]) for k in (2, 3))
    solver = model.requests[4]
    assert expert_of(solver) == "expert 1.1"
    assert all(f"view of expert 1.{k}" in user_text(solver) for k in (2, 3, 4))
    assert result.answer == "plan 1. The answer is 41"


@pytest.mark.parametrize(("experts", "calls"), [(2, 4), (3, 5), (5, 7)])
async def test_horizontal_calls_grow_with_the_number_of_experts(experts: int, calls: int) -> None:
    model = ScriptedModel(responder())
    await AgentVerse(model, experts=experts, decision="horizontal", trace=False).run(TASK)
    assert len(model.requests) == calls


async def test_evaluator_advice_reaches_the_next_round_and_acceptance_stops() -> None:
    model = ScriptedModel(responder(accept_round=2))
    result = await AgentVerse(model, experts=2, trace=False).run(TASK)
    roles = [role(r) for r in model.requests]
    assert roles == ["recruiter", "solver", "critic", "evaluator"] * 2
    recruiters = [user_text(r) for r in model.requests if role(r) == "recruiter"]
    assert NO_ADVICE in recruiters[0]
    assert "advice 1: recruit a checker" in recruiters[1]
    solvers = [r for r in model.requests if role(r) == "solver"]
    second = user_text(solvers[1])
    assert "advice 1: recruit a checker" in second and "plan 1." in second
    assert "advice" not in user_text(solvers[0])
    # Round 2 uses the newly recruited experts.
    assert expert_of(solvers[1]) == "expert 2.1"
    evaluation = user_text(model.requests[3])
    assert "expert 1.1" in evaluation and "expert 1.2" in evaluation and "plan 1." in evaluation
    assert result.answer == "plan 2. The answer is 42"


async def test_never_accepted_runs_max_rounds_and_returns_the_last_solution() -> None:
    model = ScriptedModel(responder(accept_round=None))
    result = await AgentVerse(model, trace=False).run(TASK)
    assert [role(r) for r in model.requests] == ["recruiter", "solver", "critic", "evaluator"] * 3
    assert result.final_answer == "43"
    assert result.usage_by_agent["evaluator"].calls == 3


async def test_execution_stage_is_optional_and_evaluated() -> None:
    model = ScriptedModel(responder())
    result = await AgentVerse(model, execute=True, trace=False).run(TASK)
    assert [role(r) for r in model.requests] == ["recruiter", "solver", "critic", "executor", "evaluator"]
    assert "plan 1." in user_text(model.requests[3])
    assert "executed 1." in user_text(model.requests[4])
    assert result.answer == "executed 1. The answer is 42"


async def test_too_few_experts_is_retried() -> None:
    replies = iter(
        [
            json.dumps({"experts": ["only one"]}),
            json.dumps({"experts": ["a mathematician.", "an accountant"]}),
            "plan. The answer is 42",
            json.dumps({"critique": "fine", "agree": True}),
            json.dumps({"correct": True, "advice": "ok"}),
        ]
    )
    model = ScriptedModel(lambda request: next(replies))
    result = await AgentVerse(model, trace=False).run(TASK)
    assert len(model.requests) == 5
    assert "experts: List should have at least 2 items" in user_text(model.requests[1])
    assert system(model.requests[2]).startswith("You are a mathematician. ")
    assert system(model.requests[3]).startswith("You are an accountant. ")
    assert result.final_answer == "42"


async def test_single_expert_has_no_critics() -> None:
    model = ScriptedModel(responder())
    await AgentVerse(model, experts=1, trace=False).run(TASK)
    assert [role(r) for r in model.requests] == ["recruiter", "solver", "evaluator"]


async def test_bad_decision_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown decision"):
        await AgentVerse(ScriptedModel([]), decision="diagonal", trace=False).run(TASK)
