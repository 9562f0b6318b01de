"""Captain Agent: teams from the captain's selection, members x turns nested calls,
reflection sees the nested chat, the final answer comes after the last sub-task."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.captain import Captain, CaptainDecision, ExpertChoice
from agorakit.models.base import ModelRequest

TASK = "Natalia sold 48 clips in April and half as many in May. How many in total?"


def who(request: ModelRequest) -> str:
    system = request.messages[0].content or ""
    if system.startswith("You are the captain of"):
        return "captain"
    if system.startswith("You are the captain."):
        return "final"
    if system.startswith("You review a conversation"):
        return "reviewer"
    return "expert"


Decide = Callable[[int], dict[str, object]]


def scripted(decide: Decide, solved: bool = True) -> ScriptedModel:
    counts = {"captain": 0, "final": 0, "reviewer": 0, "expert": 0}

    def respond(request: ModelRequest) -> str:
        agent = who(request)
        counts[agent] += 1
        n = counts[agent]
        if agent == "captain":
            return json.dumps(decide(n))
        if agent == "reviewer":
            return json.dumps({"results": f"results {n}", "issues": "none", "solved": solved, "conclusion": f"C{n}"})
        if agent == "expert":
            return f"MSG{n}"
        return "The answer is 72"

    return ScriptedModel(respond)


def two_subtasks(n: int) -> dict[str, object]:
    if n == 1:
        return {"finished": False, "subtask": "find May", "team": [{"role": "math expert"}, {"role": "verifier"}]}
    if n == 2:
        team = [{"role": "Python Programmer"}, {"role": "logician"}, {"role": "critic"}]
        return {"finished": False, "subtask": "add both", "team": team}
    return {"finished": True}


async def test_call_count_and_order_for_two_subtasks_then_finished() -> None:
    model = scripted(two_subtasks)
    result = await Captain(model, trace=False).run(TASK)
    agents = [who(r) for r in model.requests]
    # 2 members x 2 turns, then 3 members x 2 turns, a finishing decision and the final answer.
    assert agents == (
        ["captain"] + ["expert"] * 4 + ["reviewer"] + ["captain"] + ["expert"] * 6 + ["reviewer"] + ["captain", "final"]
    )
    assert len(model.requests) == (2 + 2 * 2) + (2 + 3 * 2) + 2
    assert result.final_answer == "72"
    assert result.answer == "The answer is 72"


async def test_nested_chat_is_round_robin_over_the_selected_team_and_members_see_the_chat() -> None:
    model = scripted(two_subtasks)
    result = await Captain(model, chat_turns=3, trace=False).run(TASK)
    experts = [r for r in model.requests if who(r) == "expert"]
    first_team = experts[:6]
    roles = [(r.messages[0].content or "").split(":")[0] for r in first_team]
    assert roles == ["You are the math expert", "You are the verifier"] * 3
    for i, request in enumerate(first_team):
        prompt = request.messages[1].content or ""
        assert TASK in prompt and "find May" in prompt
        for j in range(1, 7):
            assert (f"MSG{j}" in prompt) == (j <= i)
    assert "[math expert]: MSG1" in (first_team[1].messages[1].content or "")
    # The second team does not see the first team's chat, nor the captain's deliberations.
    second = experts[6]
    prompt = second.messages[1].content or ""
    assert "add both" in prompt and "MSG" not in prompt and "find May" not in prompt
    assert (second.messages[0].content or "").startswith("You are the python programmer")
    assert set(result.usage_by_agent) == {
        "captain",
        "reviewer",
        "expert_math_expert",
        "expert_verifier",
        "expert_python_programmer",
        "expert_logician",
        "expert_critic",
    }
    assert result.usage_by_agent["expert_verifier"].calls == 3


async def test_reflection_sees_the_nested_chat_and_the_captain_sees_the_reflection() -> None:
    model = scripted(two_subtasks)
    await Captain(model, trace=False).run(TASK)
    reviews = [r for r in model.requests if who(r) == "reviewer"]
    first = reviews[0].messages[1].content or ""
    assert all(f"MSG{j}" in first for j in range(1, 5)) and "MSG5" not in first
    assert "[verifier]: MSG2" in first and "find May" in first
    captains = [r for r in model.requests if who(r) == "captain"]
    assert "no sub-tasks yet" in (captains[0].messages[1].content or "")
    second = captains[1].messages[1].content or ""
    assert "Sub-task 1: find May" in second and "Conclusion: C1" in second and "MSG" not in second
    final = next(r for r in model.requests if who(r) == "final").messages[1].content or ""
    assert "Conclusion: C1" in final and "Conclusion: C2" in final and "Sub-task 2: add both" in final
    # The final answer is the last call, after the last sub-task's reflection.
    assert who(model.requests[-1]) == "final" and who(model.requests[-3]) == "reviewer"


async def test_max_subtasks_caps_the_loop_then_the_captain_answers() -> None:
    def never_done(n: int) -> dict[str, object]:
        return {"finished": False, "subtask": f"check {n}", "team": [{"role": "verifier"}]}

    model = scripted(never_done, solved=False)
    await Captain(model, max_subtasks=3, chat_turns=2, trace=False).run(TASK)
    assert len(model.requests) == 3 * (2 + 1 * 2) + 1
    assert who(model.requests[-1]) == "final"
    final = model.requests[-1].messages[1].content or ""
    assert "Solved: no" in final and "Sub-task 3: check 3" in final


async def test_finished_before_any_subtask_still_runs_one_team_on_the_task() -> None:
    def done_at_once(n: int) -> dict[str, object]:
        return {"finished": True}

    model = scripted(done_at_once)
    await Captain(model, trace=False).run(TASK)
    assert [who(r) for r in model.requests] == ["captain"] + ["expert"] * 4 + ["reviewer", "captain", "final"]
    # No usable pick: the default team works on the whole task.
    first = model.requests[1]
    assert (first.messages[0].content or "").startswith("You are the problem solver")
    assert "## Sub-task from the captain\n" + TASK in (first.messages[1].content or "")


def test_team_comes_from_the_selection_the_library_and_generation() -> None:
    captain = Captain(ScriptedModel([]), team_size=3)
    picks = [
        ExpertChoice(role="Verifier"),
        ExpertChoice(role="verifier"),  # duplicate
        ExpertChoice(role="astronomer"),  # unknown and undescribed: dropped
        ExpertChoice(role="Clip Counter", description="counts clips"),  # generated
        ExpertChoice(role="math expert"),
        ExpertChoice(role="writer"),  # over team_size
    ]
    team = captain.build_team(CaptainDecision(finished=False, subtask="s", team=picks).team)
    assert [(e.role, e.agent) for e in team] == [
        ("verifier", "expert_verifier"),
        ("Clip Counter", "expert_clip_counter"),
        ("math expert", "expert_math_expert"),
    ]
    assert team[1].description == "counts clips"
    no_generation = Captain(ScriptedModel([]), generate_roles=False)
    assert [e.role for e in no_generation.build_team(picks)] == ["verifier", "math expert", "writer"]
    assert [e.role for e in captain.build_team([])] == ["problem solver", "verifier"]


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="chat_turns"):
        Captain(ScriptedModel([]), chat_turns=0)
    with pytest.raises(ConfigError, match="team_size is at most 5"):
        Captain(ScriptedModel([]), team_size=6)


async def test_structured_calls_get_room_and_the_team_list_is_bounded() -> None:
    assert CaptainDecision.model_json_schema()["properties"]["team"]["maxItems"] == 5
    model = scripted(two_subtasks)
    await Captain(model, trace=False).run(TASK)
    budgets = {who(r): r.sampling.max_tokens for r in model.requests}
    assert budgets == {"captain": 1024, "reviewer": 1024, "expert": None, "final": None}
