"""MAD (Liang et al.): affirmative, negative, moderator; structured early stop; final judge."""

from __future__ import annotations

import json

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.mad import MADConfig, ModeratorVerdict, MultiAgentDebate
from agorakit.models.base import ModelRequest

NO = json.dumps({"preferred": False, "supported_side": "neither", "reason": "both unclear", "answer": ""})


def yes(side: str, answer: str) -> str:
    return json.dumps({"preferred": True, "supported_side": side, "reason": f"{side} is right", "answer": answer})


class Debate:
    """A scripted debate: each agent is recognised from its system message and turn."""

    def __init__(self, verdicts: list[str], judge: list[str] | None = None) -> None:
        self.verdicts = list(verdicts)
        self.judge = list(judge or [])
        self.counts = {"affirmative": 0, "negative": 0}
        self.model = ScriptedModel(self.respond)

    def respond(self, request: ModelRequest) -> str:
        system = request.messages[0].content or ""
        if system.startswith("You are the moderator"):
            if self._is_judge(request):
                return self.judge.pop(0)
            return self.verdicts.pop(0)
        # Debaters: the negative's conversation opens with the affirmative's first argument.
        side = "negative" if (request.messages[1].content or "").startswith("AFFIRMATIVE-1") else "affirmative"
        self.counts[side] += 1
        return f"{side.upper()}-{self.counts[side]} argues. The answer is {self.counts[side] * 10}"

    @staticmethod
    def _is_judge(request: ModelRequest) -> bool:
        return "answer candidates" in (request.messages[1].content or "")


def texts(request: ModelRequest) -> list[tuple[str, str]]:
    return [(m.role, m.content or "") for m in request.messages]


async def test_stop_at_round_one_is_three_calls_with_the_right_visibility() -> None:
    debate = Debate([yes("negative", "12")])
    result = await MultiAgentDebate(debate.model, trace=False).run("What is 5 + 7?")
    requests = debate.model.requests
    assert len(requests) == 3
    affirmative, negative, moderator = (texts(r) for r in requests)
    assert [role for role, _ in affirmative] == ["system", "user"]
    assert affirmative[1][1].startswith("What is 5 + 7?")
    assert "What is 5 + 7?" in affirmative[0][1]
    # The negative sees the affirmative's argument of the same round and is told to disagree.
    assert [role for role, _ in negative] == ["system", "user"]
    assert "AFFIRMATIVE-1 argues" in negative[1][1] and "You disagree" in negative[1][1]
    # The moderator sees both sides, and answers with a schema.
    assert "AFFIRMATIVE-1 argues" in moderator[-1][1] and "NEGATIVE-1 argues" in moderator[-1][1]
    assert "first round" in moderator[-1][1]
    assert requests[2].response_schema == ModeratorVerdict.model_json_schema()
    assert result.answer.startswith("The answer is 12\n(negative side preferred) negative is right")
    assert result.final_answer == "12"
    assert sorted(result.usage_by_agent) == ["affirmative", "moderator", "negative"]


async def test_stops_exactly_when_a_side_is_preferred() -> None:
    debate = Debate([NO, yes("affirmative", "20")])
    result = await MultiAgentDebate(debate.model, trace=False).run("q")
    assert len(debate.model.requests) == 6  # two full rounds, no judge
    assert result.final_answer == "20"
    assert "judge" not in result.usage_by_agent
    # Round 2: the affirmative sees the negative's round-1 argument and its own history;
    # the negative sees the affirmative's round-2 argument (same round) after its history.
    affirmative, negative, moderator = (texts(r) for r in debate.model.requests[3:6])
    assert [role for role, _ in affirmative] == ["system", "user", "assistant", "user"]
    assert affirmative[2][1].startswith("AFFIRMATIVE-1")
    assert "NEGATIVE-1 argues" in affirmative[3][1] and "Do you agree" in affirmative[3][1]
    assert [role for role, _ in negative] == ["system", "user", "assistant", "user"]
    assert negative[2][1].startswith("NEGATIVE-1")
    assert "AFFIRMATIVE-2 argues" in negative[3][1] and "AFFIRMATIVE-1" not in negative[3][1]
    # The moderator keeps its history: round-1 prompt, its verdict, round-2 prompt.
    assert [role for role, _ in moderator] == ["system", "user", "assistant", "user"]
    # Its verdict as the model wrote it (spacing kept), so the engine's prompt cache still matches.
    assert moderator[2][1] == NO
    assert "second round" in moderator[3][1]
    assert "AFFIRMATIVE-2 argues" in moderator[3][1] and "NEGATIVE-2 argues" in moderator[3][1]


async def test_no_preference_runs_to_max_rounds_then_the_judge_decides() -> None:
    decision = json.dumps({"reason": "the negative computed correctly", "answer": "30"})
    debate = Debate([NO, NO, NO], judge=["Candidates: 30, 30", decision])
    result = await MultiAgentDebate(debate.model, trace=False).run("q")
    requests = debate.model.requests
    assert len(requests) == 3 * 3 + 2 == 11
    candidates, final = texts(requests[9]), texts(requests[10])
    assert candidates[0][1].startswith("You are the moderator")
    # The judge sees the whole debate: every round of both sides.
    for n in (1, 2, 3):
        assert f"AFFIRMATIVE-{n} argues" in candidates[1][1] and f"NEGATIVE-{n} argues" in candidates[1][1]
    assert "answer candidates" in candidates[1][1]
    assert requests[9].response_schema is None
    assert [role for role, _ in final] == ["system", "user", "assistant", "user"]
    assert final[2][1] == "Candidates: 30, 30"
    assert requests[10].response_schema is not None and "answer" in requests[10].response_schema["properties"]
    assert result.answer.startswith("The answer is 30\n(decided by the judge)")
    assert result.final_answer == "30"
    assert result.usage_by_agent["judge"].calls == 2
    assert result.usage_by_agent["moderator"].calls == 3


async def test_max_rounds_override_and_a_preferred_verdict_without_answer_is_retried() -> None:
    half = json.dumps({"preferred": True, "supported_side": "neither", "reason": "r", "answer": "7"})
    debate = Debate([half, yes("affirmative", "7")])
    result = await MultiAgentDebate(debate.model, max_rounds=1, trace=False).run("q")
    assert len(debate.model.requests) == 4  # the invalid verdict was asked again once
    assert "must name the supported side" in (debate.model.requests[3].messages[-1].content or "")
    assert result.final_answer == "7"
    debate = Debate([NO], judge=["c", json.dumps({"reason": "r", "answer": "Paris"})])
    result = await MultiAgentDebate(debate.model, max_rounds=1, trace=False).run("q")
    assert len(debate.model.requests) == 5
    assert result.final_answer == "Paris"


async def test_defaults_and_config_errors() -> None:
    assert MADConfig() == MADConfig(max_rounds=3, temperature=0.0)
    debate = Debate([yes("affirmative", "1")])
    await MultiAgentDebate(debate.model, trace=False).run("q")
    assert {r.sampling.temperature for r in debate.model.requests} == {0.0}
    with pytest.raises(ConfigError, match="max_rounds"):
        await MultiAgentDebate(debate.model, max_rounds=0, trace=False).run("q")


async def test_a_moderator_that_never_gives_a_valid_verdict_leaves_the_decision_to_the_judge() -> None:
    inconsistent = json.dumps({"preferred": True, "supported_side": "neither", "reason": "r", "answer": "7"})
    debate = Debate([inconsistent] * 3, judge=["candidates", json.dumps({"reason": "r", "answer": "9"})])
    result = await MultiAgentDebate(debate.model, max_rounds=1, trace=False).run("q")
    # 2 debaters, 3 moderator tries, then the judge's two calls.
    assert len(debate.model.requests) == 2 + 3 + 2
    assert result.final_answer == "9"
    assert result.details["rounds_without_valid_verdict"] == [1]
