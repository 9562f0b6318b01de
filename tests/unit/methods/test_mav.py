"""BoN-MAV: n candidates, m aspect verifiers with binary approvals, most approvals wins."""

from __future__ import annotations

import json
import re

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.mav import ASPECTS, GENERATE_PROMPT, MultiAgentVerification, select
from agorakit.models.base import ModelRequest

TASK = "Natalia sold 48 clips in April and half as many in May. How many in total?"
ASPECT_SET = ("math_steps", "logic_steps", "answers_question")


def scripted(table: dict[str, tuple[bool, ...]], aspects: tuple[str, ...] = ASPECT_SET) -> ScriptedModel:
    """Candidates "Candidate 1..n" (in generation order); verifier verdicts from ``table``."""
    produced = iter(table)

    def respond(request: ModelRequest) -> str:
        if request.messages[0].content == GENERATE_PROMPT:
            return next(produced)
        prompt = request.messages[-1].content or ""
        candidate = re.search(r"PROPOSED SOLUTION:\n(.*)\n\nINSTRUCTIONS", prompt, re.S)
        assert candidate, prompt
        aspect = next(name for name in aspects if ASPECTS[name] in prompt)
        approve = table[candidate.group(1)][aspects.index(aspect)]
        return json.dumps({"analysis": f"checked {aspect}", "approve": approve})

    return ScriptedModel(respond)


async def test_n_generations_and_n_times_m_verifications_and_the_known_winner() -> None:
    table = {
        "Candidate 1: The answer is 96": (True, False, False),  # 1
        "Candidate 2: The answer is 72": (True, True, True),  # 3: the winner
        "Candidate 3: The answer is 24": (False, True, True),  # 2
        "Candidate 4: The answer is 70": (False, False, False),  # 0
    }
    model = scripted(table)
    method = MultiAgentVerification(model, trace=False, candidates=4, aspects=ASPECT_SET)
    result = await method.run(TASK)
    assert result.usage.calls == 4 + 4 * 3
    assert result.answer == "Candidate 2: The answer is 72" and result.final_answer == "72"
    assert result.details["approvals"] == [list(row) for row in table.values()]
    assert result.details["winner"] == 1
    assert sum(u.calls for a, u in result.usage_by_agent.items() if a.startswith("generator_")) == 4
    assert result.usage_by_agent["verifier_math_steps"].calls == 4
    generations = [q for q in model.requests if q.messages[0].content == GENERATE_PROMPT]
    assert len(generations) == 4
    assert all(q.sampling.temperature == 0.7 for q in generations)


async def test_each_verifier_sees_only_the_question_its_aspect_and_one_candidate() -> None:
    table = {"Candidate A": (True, True, True), "Candidate B": (False, False, False)}
    model = scripted(table)
    await MultiAgentVerification(model, trace=False, candidates=2, aspects=ASPECT_SET).run(TASK)
    verifications = [q for q in model.requests if q.messages[0].content != GENERATE_PROMPT]
    assert len(verifications) == 6
    seen = set()
    for request in verifications:
        assert request.sampling.temperature == 0.0
        assert len(request.messages) == 2
        prompt = request.messages[-1].content or ""
        assert prompt.startswith(f"QUESTION:\n{TASK}\n\nPROPOSED SOLUTION:\n")
        assert ("Candidate A" in prompt) != ("Candidate B" in prompt)  # exactly one candidate
        aspects = [name for name in ASPECT_SET if ASPECTS[name] in prompt]
        assert len(aspects) == 1  # exactly one aspect
        assert "checked" not in prompt  # no other verifier's verdict
        seen.add((prompt.split("PROPOSED SOLUTION:\n")[1].split("\n")[0], aspects[0]))
    assert len(seen) == 6  # every (candidate, aspect) pair once


async def test_a_tie_goes_to_the_earliest_candidate() -> None:
    table = {
        "Candidate 1": (False, False, True),  # 1
        "Candidate 2": (True, False, True),  # 2
        "Candidate 3": (False, True, True),  # 2: tied with candidate 2, later
    }
    model = scripted(table)
    method = MultiAgentVerification(model, trace=False, candidates=3, aspects=ASPECT_SET)
    result = await method.run(TASK)
    assert result.answer == "Candidate 2"


def test_select_rule() -> None:
    assert select([[True, False], [True, True], [False, True]]) == 1
    assert select([[False], [False]]) == 0
    assert select([[False, True], [True, False]]) == 0


async def test_an_invalid_verdict_after_retries_counts_as_no_approval() -> None:
    def respond(request: ModelRequest) -> str:
        if request.messages[0].content == GENERATE_PROMPT:
            return "The answer is 72"
        if "QUESTION" in (request.messages[1].content or "") and ASPECTS["math_steps"] in (
            request.messages[1].content or ""
        ):
            return "I think it is fine"  # never a JSON verdict
        return '```json\n{"analysis": "ok", "approve": true}\n```'

    model = ScriptedModel(respond)
    method = MultiAgentVerification(model, trace=False, candidates=1, aspects=("math_steps", "logic_steps"))
    result = await method.run(TASK)
    assert result.details["approvals"] == [[False, True]]
    assert result.details["invalid_verdicts"] == [(0, "math_steps")]
    assert len(model.requests) == 1 + 3 + 1  # the math verifier was asked three times


async def test_defaults_follow_the_official_code_and_unknown_aspects_are_refused() -> None:
    method = MultiAgentVerification(ScriptedModel([]), trace=False)
    assert method.config.candidates == 16
    assert method.config.aspects == (
        "units_steps",
        "general_summarize",
        "general_edge",
        "general_mistakes",
        "general_domain",
    )
    with pytest.raises(ConfigError, match="unknown: spelling"):
        await MultiAgentVerification(ScriptedModel([]), trace=False, aspects=("spelling",)).run(TASK)
