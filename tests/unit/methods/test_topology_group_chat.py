"""Group chat: round-robin and model-selected speakers, termination, malformed selector output."""

from __future__ import annotations

import json

import pytest

from agorakit import ScriptedModel
from agorakit.agents import Agent
from agorakit.core.messages import Message
from agorakit.kernel import RunLedger
from agorakit.methods import StructuredOutputError
from agorakit.methods.topology import GroupChat


def team(replies: dict[str, list[str]]) -> tuple[list[Agent], dict[str, ScriptedModel]]:
    models = {name: ScriptedModel(items) for name, items in replies.items()}
    return [Agent(name, models[name], instructions=f"{name} role") for name in replies], models


async def test_round_robin_cycles_until_max_turns() -> None:
    agents, models = team({"a": ["a1", "a2"], "b": ["b1", "b2"], "c": ["c1"]})
    result = await GroupChat(agents, max_turns=5).run("go", context=RunLedger.create())
    assert result.speakers == ["a", "b", "c", "a", "b"]
    assert not result.terminated and result.output == "b2" and result.steps == 5
    # b's second turn sees everything said so far, its own message as the assistant's.
    seen = [(m.role, m.name, m.content) for m in models["b"].requests[1].messages[1:]]
    assert seen == [
        ("user", "user", "go"),
        ("user", "a", "a1"),
        ("assistant", "b", "b1"),
        ("user", "c", "c1"),
        ("user", "a", "a2"),
    ]


async def test_terminates_on_the_phrase_exactly_when_it_appears() -> None:
    agents, models = team({"a": ["a1", "done TERMINATE"], "b": ["b1", "never"]})
    result = await GroupChat(agents, max_turns=10).run("go", context=RunLedger.create())
    assert result.speakers == ["a", "b", "a"] and result.terminated
    assert result.output == "done TERMINATE"
    assert len(models["b"].requests) == 1


async def test_terminates_on_a_callable() -> None:
    agents, _ = team({"a": ["1", "2", "3"], "b": ["x", "y"]})
    chat = GroupChat(agents, terminate_on=lambda m: m.name == "b" and m.content == "y", max_turns=10)
    result = await chat.run("go", context=RunLedger.create())
    assert result.speakers == ["a", "b", "a", "b"] and result.terminated


def choice(name: str) -> str:
    return json.dumps({"speaker": name})


async def test_model_selects_speakers_and_never_the_previous_one() -> None:
    agents, models = team({"planner": ["plan"], "solver": ["solved TERMINATE"], "critic": []})
    selector = ScriptedModel([choice("planner"), choice("solver")])
    chat = GroupChat(agents, speaker="model", selector=selector, max_turns=5)
    result = await chat.run("task", context=RunLedger.create())
    assert result.speakers == ["planner", "solver"] and result.terminated
    first, second = selector.requests
    # Structured output: an enum of the candidates; the previous speaker is not one of them.
    assert first.response_schema is not None
    assert first.response_schema["properties"]["speaker"]["enum"] == ["planner", "solver", "critic"]
    assert second.response_schema is not None
    assert second.response_schema["properties"]["speaker"]["enum"] == ["solver", "critic"]
    # The selector sees the roles and the conversation so far.
    assert "- critic: critic role" in (second.messages[0].content or "")
    assert "planner: plan" in (second.messages[1].content or "")
    assert not models["critic"].requests


async def test_selector_output_fenced_json_is_recovered() -> None:
    agents, _ = team({"a": ["x TERMINATE"], "b": []})
    selector = ScriptedModel(['Next: ```json\n{"speaker": "a"}\n```'])
    result = await GroupChat(agents, speaker="model", selector=selector).run("t", context=RunLedger.create())
    assert result.speakers == ["a"] and len(selector.requests) == 1


async def test_selector_missing_field_wrong_type_and_unknown_name_are_retried() -> None:
    agents, _ = team({"a": [], "b": ["y TERMINATE"]})
    selector = ScriptedModel(['{"next": "b"}', '{"speaker": 2}', choice("zed"), choice("b")])
    chat = GroupChat(agents, speaker="model", selector=selector, selector_retries=3)
    result = await chat.run("t", context=RunLedger.create())
    assert result.speakers == ["b"] and len(selector.requests) == 4
    retries = [r.messages[-1].content or "" for r in selector.requests[1:]]
    assert "speaker: Field required" in retries[0]
    assert "speaker: Input should be 'a' or 'b'" in retries[1]
    assert "speaker: Input should be 'a' or 'b'" in retries[2]
    # The bad reply stays in the retry conversation so the model sees what it said.
    assert selector.requests[1].messages[-2] == Message("assistant", '{"next": "b"}')


async def test_selector_all_bad_fails_with_a_clear_error() -> None:
    agents, models = team({"a": [], "b": []})
    selector = ScriptedModel(["b please", '{"speaker": null}', choice("c")])
    chat = GroupChat(agents, speaker="model", selector=selector)
    with pytest.raises(StructuredOutputError, match="selector gave no valid SpeakerChoice in 3 tries"):
        await chat.run("t", context=RunLedger.create())
    assert not models["a"].requests and not models["b"].requests


async def test_selector_agent_gives_its_name_and_model() -> None:
    agents, _ = team({"a": ["fin TERMINATE"], "b": []})
    boss_model = ScriptedModel([choice("a")])
    run = RunLedger.create()
    await GroupChat(agents, speaker="model", selector=Agent("boss", boss_model)).run("t", context=run)
    assert run.usage_by_agent["boss"].calls == 1 and run.usage_by_agent["a"].calls == 1
