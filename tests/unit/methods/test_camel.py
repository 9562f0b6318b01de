"""CAMEL role-playing: who sees what, the done token, the turn budget."""

from __future__ import annotations

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.camel import Camel
from agorakit.models.base import ModelRequest

TASK = "Natalia sold 48 clips in April and half as many in May. How many in total?"


def who(request: ModelRequest) -> str:
    system = request.messages[0].content or ""
    if system.startswith("Rules for the user"):
        return "user"
    if system.startswith("Rules for the assistant"):
        return "assistant"
    return "specifier"


def scripted(done_at: int | None) -> ScriptedModel:
    """The user says done in its ``done_at``-th message; replies are numbered."""
    counts = {"user": 0, "assistant": 0, "specifier": 0}

    def respond(request: ModelRequest) -> str:
        agent = who(request)
        counts[agent] += 1
        n = counts[agent]
        if agent == "specifier":
            return "SPECIFIED: count clips for April and May."
        if agent == "user":
            return "<CAMEL_TASK_DONE>" if n == done_at else f"Instruction: step {n}\nInput: None"
        return f"Solution: solution {n}. The answer is {70 + n}. Next request."

    return ScriptedModel(respond)


@pytest.mark.parametrize(("done_at", "calls"), [(2, 4), (3, 6), (5, 10)])
async def test_done_at_turn_k_makes_2k_calls_and_stops_exactly_then(done_at: int, calls: int) -> None:
    model = scripted(done_at)
    result = await Camel(model, trace=False).run(TASK)
    assert len(model.requests) == calls
    agents = [who(r) for r in model.requests]
    assert agents == ["specifier"] + ["user", "assistant"] * (done_at - 1) + ["user"]
    # The answer is the assistant's last solution (the one before the done token).
    assert result.answer == f"Solution: solution {done_at - 1}. The answer is {70 + done_at - 1}. Next request."
    assert result.final_answer == str(70 + done_at - 1)
    assert result.usage_by_agent["user"].calls == done_at
    assert result.usage_by_agent["assistant"].calls == done_at - 1


async def test_max_turns_bounds_the_chat_without_a_done_token() -> None:
    model = scripted(None)
    result = await Camel(model, max_turns=3, trace=False).run(TASK)
    assert len(model.requests) == 1 + 2 * 3
    assert result.final_answer == "73"


async def test_each_side_sees_the_other_sides_messages_in_its_own_conversation() -> None:
    model = scripted(3)
    await Camel(model, trace=False).run(TASK)
    spec, user1, asst1, user2, asst2, user3 = model.requests
    # The specifier sees the task and the roles.
    spec_prompt = spec.messages[1].content or ""
    assert all(part in spec_prompt for part in (TASK, "Postdoc", "PhD Student", "50 words"))
    # Both role-players' system prompts carry the original and the specified task.
    for request in (user1, asst1):
        system = request.messages[0].content or ""
        assert TASK in system and "SPECIFIED: count clips" in system
    assert "<CAMEL_TASK_DONE>" in (user1.messages[0].content or "")
    assert [(m.role, m.content) for m in user1.messages[1:]] == [
        ("user", "Now start giving me instructions, one at a time. Reply only with Instruction and Input.")
    ]
    # The assistant sees the user's instruction as the user turn; never the user's rules.
    assert [(m.role, m.content) for m in asst1.messages[1:]] == [("user", "Instruction: step 1\nInput: None")]
    assert all("Rules for the user" not in (m.content or "") for r in (asst1, asst2) for m in r.messages)
    # The user sees the assistant's solution as the other side, its own instruction as its turn.
    assert [(m.role, m.content) for m in user2.messages[2:]] == [
        ("assistant", "Instruction: step 1\nInput: None"),
        ("user", "Solution: solution 1. The answer is 71. Next request."),
    ]
    assert [(m.role, m.content) for m in asst2.messages[1:]] == [
        ("user", "Instruction: step 1\nInput: None"),
        ("assistant", "Solution: solution 1. The answer is 71. Next request."),
        ("user", "Instruction: step 2\nInput: None"),
    ]
    assert user3.messages[-1].content == "Solution: solution 2. The answer is 72. Next request."
    assert len(user3.messages) == 6


async def test_done_token_without_brackets_also_stops() -> None:
    replies = iter(["specified", "Instruction: add\nInput: None", "Solution: 72. Next request.", "CAMEL_TASK_DONE"])
    model = ScriptedModel(lambda request: next(replies))
    result = await Camel(model, trace=False).run(TASK)
    assert len(model.requests) == 4 and result.final_answer == "72"


async def test_done_before_any_solution_asks_the_assistant_once() -> None:
    model = scripted(1)
    result = await Camel(model, trace=False).run(TASK)
    assert [who(r) for r in model.requests] == ["specifier", "user", "assistant"]
    last = model.requests[-1].messages[-1].content or ""
    assert last.startswith("Instruction: Solve the task now")
    assert result.final_answer == "71"


async def test_without_the_specifier_the_task_is_used_as_given() -> None:
    model = scripted(2)
    await Camel(model, specify_task=False, trace=False).run(TASK)
    assert [who(r) for r in model.requests] == ["user", "assistant", "user"]
    assert "More specifically" not in (model.requests[0].messages[0].content or "")


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="max_turns"):
        Camel(ScriptedModel([]), max_turns=0)
