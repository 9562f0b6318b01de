"""Multiagent debate (Du et al.): who sees what, call counts, the vote and the LLM aggregator."""

from __future__ import annotations

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.llm_debate import LLMDebate, LLMDebateConfig
from agorakit.models.base import ModelRequest


def contents(request: ModelRequest) -> list[tuple[str, str]]:
    return [(m.role, m.content or "") for m in request.messages]


def by_round(answers: dict[int, list[str]]) -> ScriptedModel:
    """A model answering each agent by its position in the round (agents are called in order)."""

    def respond(request: ModelRequest) -> str:
        index = len(model.requests) - 1
        round_index = (len(request.messages) - 1) // 2
        agents = len(answers[0])
        return answers[round_index][index % agents]

    model = ScriptedModel(respond)
    return model


async def test_three_agents_two_rounds_who_sees_what() -> None:
    model = by_round(
        {
            0: ["A1 says The answer is 10", "A2 says The answer is 12", "A3 says The answer is 14"],
            1: ["B1 The answer is 12", "B2 The answer is 12", "B3 The answer is 14"],
        }
    )
    result = await LLMDebate(model, trace=False).run("What is 5 + 7?")
    assert len(model.requests) == 6  # 3 agents x 2 rounds
    first, second = model.requests[:3], model.requests[3:]
    for request in first:
        # Round 1 is independent: only the task.
        assert len(request.messages) == 1
        role, text = contents(request)[0]
        assert role == "user" and text.startswith("What is 5 + 7?")
        assert "A1" not in text and "A2" not in text
    own = ["A1", "A2", "A3"]
    for index, request in enumerate(second):
        messages = contents(request)
        # Its own history: task, its own round-1 answer, then the debate prompt.
        assert [role for role, _ in messages] == ["user", "assistant", "user"]
        assert messages[1][1].startswith(own[index])
        prompt = messages[2][1]
        others = [name for name in own if name != own[index]]
        for name in others:
            assert f"{name} says" in prompt
        # Not its own answer as "another agent's", and nothing from the current round.
        assert f"{own[index]} says" not in prompt
        assert "B1" not in prompt and "B2" not in prompt
        assert prompt.count("Solution from another agent") == 2
        assert "What is 5 + 7?" in prompt
    assert result.answer == "The answer is 12 (2 of 3 agents)"
    assert result.final_answer == "12"
    assert sorted(result.usage_by_agent) == ["debater_1", "debater_2", "debater_3"]
    assert all(usage.calls == 2 for usage in result.usage_by_agent.values())


async def test_call_count_grows_as_agents_times_rounds_and_history_accumulates() -> None:
    model = ScriptedModel(lambda request: "The answer is 3")
    result = await LLMDebate(model, agents=2, rounds=4, trace=False).run("q")
    assert len(model.requests) == 8
    # Agent 1 in round 4 carries its whole history: 4 prompts and 3 answers.
    assert len(model.requests[6].messages) == 7
    assert result.answer == "The answer is 3 (2 of 2 agents)"


async def test_last_round_vote_tie_goes_to_the_lowest_numbered_agent() -> None:
    model = by_round(
        {
            0: ["The answer is 1", "The answer is 1", "The answer is 1", "The answer is 1"],
            1: ["The answer is 8", "The answer is 6", "The answer is 6.0", "The answer is 8"],
        }
    )
    result = await LLMDebate(model, agents=4, trace=False).run("q")
    assert result.answer == "The answer is 8 (2 of 4 agents)"
    # Only the last round votes: round 1's unanimous "1" does not count.
    model = by_round({0: ["The answer is 1", "The answer is 1", "x"], 1: ["", "The answer is 5", "The answer is 7"]})
    result = await LLMDebate(model, trace=False).run("q")
    # The empty reply abstains; 5 and 7 tie and agent 2 comes before agent 3.
    assert result.answer == "The answer is 5 (1 of 3 agents)"
    assert result.final_answer == "5"


async def test_single_agent_is_asked_to_check_its_own_answer() -> None:
    model = ScriptedModel(["The answer is 4", "Checked. The answer is 5"])
    result = await LLMDebate(model, agents=1, trace=False).run("q")
    prompt = contents(model.requests[1])[-1][1]
    assert "Check carefully whether your answer is correct" in prompt
    assert "another agent" not in prompt
    assert result.answer == "The answer is 5 (1 of 1 agents)"


async def test_llm_aggregation_reads_the_last_round_only() -> None:
    def respond(request: ModelRequest) -> str:
        first = request.messages[0].content or ""
        if first.startswith("Task:"):
            return "Weighing them: The answer is 21"
        if len(request.messages) == 1:
            return f"round one {len(model.requests)}: The answer is 2"
        return f"round two {len(model.requests)}: The answer is 20"

    model = ScriptedModel(respond)
    result = await LLMDebate(model, aggregation="llm", max_tokens=50, trace=False).run("What is 3 * 7?")
    assert len(model.requests) == 7  # 3 x 2 debate calls + 1 aggregator call
    # The aggregator decides without the debaters' sampling temperature, within max_tokens.
    assert (model.requests[6].sampling.temperature, model.requests[6].sampling.max_tokens) == (None, 50)
    aggregator = contents(model.requests[6])
    assert len(aggregator) == 1
    prompt = aggregator[0][1]
    assert prompt.startswith("Task:\nWhat is 3 * 7?")
    for number in (4, 5, 6):
        assert f"Solution {number - 3}:\nround two {number}: The answer is 20" in prompt
    assert "round one" not in prompt
    assert (result.answer, result.final_answer) == ("Weighing them: The answer is 21", "21")
    assert result.usage_by_agent["aggregator"].calls == 1


async def test_sampling_defaults_and_config_errors() -> None:
    assert LLMDebateConfig() == LLMDebateConfig(agents=3, rounds=2, aggregation="vote", temperature=1.0)
    model = ScriptedModel(lambda request: "The answer is 1")
    await LLMDebate(model, agents=2, rounds=1, max_tokens=32, trace=False).run("q")
    assert len(model.requests) == 2
    assert {(r.sampling.temperature, r.sampling.max_tokens) for r in model.requests} == {(1.0, 32)}
    with pytest.raises(ConfigError, match="unknown aggregation"):
        await LLMDebate(model, aggregation="mean", trace=False).run("q")
    with pytest.raises(ConfigError, match="at least 1"):
        await LLMDebate(model, rounds=0, trace=False).run("q")
