"""Self-consistency: k sampled chains, extracted answers, a true majority vote."""

from __future__ import annotations

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.methods.self_consistency import SelfConsistency, SelfConsistencyConfig
from agorakit.methods.voting import majority_vote, normalize_answer
from agorakit.models.base import Sampling


async def test_k_samples_at_temperature_and_a_majority_vote() -> None:
    model = ScriptedModel(
        [
            "4 + 3 = 7. The answer is 7",
            "so 12. The answer is 12",
            "hmm \\boxed{12}",
            "The answer is 7.0",
            "The answer is 12.00",
        ]
    )
    result = await SelfConsistency(model, trace=False).run("What is 3 + 4?")
    assert len(model.requests) == 5
    for request in model.requests:
        assert request.sampling.temperature == 0.7
        roles = [(m.role, m.content) for m in request.messages]
        assert roles[1] == ("user", "What is 3 + 4?")
        assert roles[0][0] == "system" and "step by step" in (roles[0][1] or "")
        # Every sample is independent: nobody sees another sample.
        assert len(request.messages) == 2
    # 12 wins 3 to 2 although 7 was sampled first; "12", "12", "12.00" are one answer.
    assert result.answer == "The answer is 12 (3 of 5 samples)"
    assert result.final_answer == "12"
    assert result.usage.calls == 5
    assert sorted(result.usage_by_agent) == [f"sampler_{i}" for i in range(1, 6)]


async def test_a_tie_goes_to_the_earliest_sampled_answer() -> None:
    model = ScriptedModel(["The answer is 9", "The answer is 5", "The answer is 5", "The answer is 9"])
    result = await SelfConsistency(model, samples=4, trace=False).run("q")
    assert result.answer == "The answer is 9 (2 of 4 samples)"
    model = ScriptedModel(["The answer is 5", "The answer is 9", "The answer is 9", "The answer is 5"])
    result = await SelfConsistency(model, samples=4, trace=False).run("q")
    assert result.answer == "The answer is 5 (2 of 4 samples)"


async def test_empty_samples_abstain_and_text_answers_vote_case_insensitively() -> None:
    model = ScriptedModel(["", "The answer is Paris.", "The answer is london", "The answer is paris", "  "])
    result = await SelfConsistency(model, trace=False).run("Capital of France?")
    assert result.answer == "The answer is Paris (2 of 5 samples)"
    assert result.final_answer == "Paris"


async def test_no_answer_at_all_gives_empty_text() -> None:
    result = await SelfConsistency(ScriptedModel(["", ""]), samples=2, trace=False).run("q")
    assert (result.answer, result.final_answer) == ("", None)


async def test_config_defaults_and_overrides() -> None:
    assert SelfConsistencyConfig() == SelfConsistencyConfig(samples=5, temperature=0.7, max_tokens=None)
    model = ScriptedModel(["The answer is 1"] * 3)
    method = SelfConsistency(model, samples=3, temperature=0.5, max_tokens=64, sampling=Sampling(seed=3), trace=False)
    result = await method.run("q")
    assert len(model.requests) == 3
    assert {(r.sampling.temperature, r.sampling.max_tokens, r.sampling.seed) for r in model.requests} == {(0.5, 64, 3)}
    assert result.answer == "The answer is 1 (3 of 3 samples)"
    with pytest.raises(ConfigError, match="at least 1"):
        await SelfConsistency(model, samples=0, trace=False).run("q")


def test_normalisation_and_vote_helper() -> None:
    assert normalize_answer("42") == normalize_answer("42.0") == normalize_answer(" $42. ") == "42"
    assert normalize_answer("1,234.50") == "1234.5"
    assert normalize_answer("-0.50") == "-0.5"
    assert normalize_answer("New  York") == normalize_answer("new york")
    outcome = majority_vote(["3", None, "4", "4.0", "3", "3"])
    assert outcome is not None
    assert (outcome.answer, outcome.votes, outcome.valid, outcome.tally) == ("3", 3, 5, {"3": 3, "4": 2})
    assert majority_vote([None, ""]) is None
