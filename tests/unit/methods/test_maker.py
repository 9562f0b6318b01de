"""MAKER: decomposition, first-to-ahead-by-k voting per step, red-flagging, isolated micro-agents."""

from __future__ import annotations

import json
import re

import pytest

from agorakit import ScriptedModel
from agorakit.methods import StructuredOutputError
from agorakit.methods.maker import Maker, ahead_by_k
from agorakit.models.base import ModelRequest

TASK = "Natalia sold 48 clips in April and half as many in May. How many in total?"
STEPS = ["Compute half of 48.", "Add 48 and the May clips."]
OVERLONG = json.dumps({"result": "word " * 30})  # over a red_flag_tokens of 10 words


def r(text: str) -> str:
    return json.dumps({"result": text})


def scripted(per_step: dict[int, list[str]], steps: list[str] | None = None) -> ScriptedModel:
    queues = {step: list(replies) for step, replies in per_step.items()}

    def respond(request: ModelRequest) -> str:
        system = request.messages[0].content or ""
        if system.startswith("You split a task"):
            return json.dumps({"steps": steps or STEPS})
        match = re.search(r"Your step \((\d+) of", request.messages[-1].content or "")
        assert match, request.messages
        return queues[int(match.group(1))].pop(0)

    return ScriptedModel(respond)


def step_requests(model: ScriptedModel, step: int) -> list[ModelRequest]:
    return [q for q in model.requests if f"Your step ({step} of" in (q.messages[-1].content or "")]


@pytest.mark.parametrize(
    ("k", "sequence", "samples", "winner"),
    [
        # A,B,A,A,A with k=2: tallies A1 B0 | A1 B1 | A2 B1 | A3 B1 -> A is 2 ahead after the 4th sample.
        (2, ["A", "B", "A", "A", "A"], 4, "A"),
        # The same sequence with k=3 needs the 5th sample: A4 B1.
        (3, ["A", "B", "A", "A", "A"], 5, "A"),
        # k=1 is "first answer wins".
        (1, ["B", "A", "A"], 1, "B"),
        # B leads early, A catches up: B1 | B2 | A1 | A2 | A3 | A4 (2 ahead, not 3) | A5 -> stop at the 7th.
        (3, ["B", "B", "A", "A", "A", "A", "A", "A"], 7, "A"),
    ],
)
async def test_first_to_ahead_by_k_stops_exactly_when_the_leader_is_k_ahead(
    k: int, sequence: list[str], samples: int, winner: str
) -> None:
    model = scripted({1: [r(x) for x in sequence]}, steps=["Only step."])
    method = Maker(model, trace=False, k=k)
    result = await method.run(TASK)
    assert len(step_requests(model, 1)) == samples
    assert result.usage.calls == 1 + samples  # the decomposer, then the votes
    assert result.final_answer == winner
    assert result.details["steps"][0]["decided"] is True


def test_ahead_by_k_rule() -> None:
    assert ahead_by_k({"a": 3}, "a", 3)
    assert not ahead_by_k({"a": 3, "b": 1}, "a", 3)
    assert ahead_by_k({"a": 4, "b": 1, "c": 0}, "a", 3)


async def test_red_flagged_samples_do_not_vote() -> None:
    # k=2: A, malformed, overlong, B, not-json, A, A -> valid votes A,B,A,A -> A3 B1 after the 7th sample.
    sequence = [r("A"), '{"answer": "B"}', OVERLONG, r("B"), "A", r("A"), r("A"), r("A")]
    model = scripted({1: sequence}, steps=["Only step."])
    method = Maker(model, trace=False, k=2, red_flag_tokens=10)
    result = await method.run(TASK)
    assert len(step_requests(model, 1)) == 7
    assert result.final_answer == "A"
    record = result.details["steps"][0]
    assert record["votes"] == {"a": 3, "b": 1}
    assert record["red_flags"] == {"malformed": 2, "overlong": 1}
    # The output cap sits one token past the red-flag limit.
    assert step_requests(model, 1)[0].sampling.max_tokens == 11


async def test_micro_agents_see_the_task_the_decided_state_and_their_step_but_no_sibling_samples() -> None:
    model = scripted({1: [r("24"), r("twenty"), r("24"), r("24")], 2: [r("72"), r("72")]})
    method = Maker(model, trace=False, k=2)
    result = await method.run(TASK)
    assert result.final_answer == "72"
    assert result.usage.calls == 1 + 4 + 2
    first = step_requests(model, 1)
    # Every sample of a step gets the very same prompt: no sibling sample leaks in.
    assert len({tuple(m.content for m in q.messages) for q in first}) == 1
    assert TASK in (first[0].messages[-1].content or "")
    assert "Compute half of 48." in (first[0].messages[-1].content or "")
    assert "Add 48" not in (first[0].messages[-1].content or "")  # later steps are not shown
    second = step_requests(model, 2)
    prompt = second[0].messages[-1].content or ""
    assert "1. Compute half of 48.\n   Result: 24" in prompt
    assert "twenty" not in prompt
    assert len({tuple(m.content for m in q.messages) for q in second}) == 1
    # Greedy first sample, then temperature 0.1.
    assert [q.sampling.temperature for q in first] == [0.0, 0.1, 0.1, 0.1]
    assert result.usage_by_agent["micro_1"].calls == 4 and result.usage_by_agent["decomposer"].calls == 1


async def test_votes_ignore_case_and_whitespace_and_keep_the_first_wording() -> None:
    model = scripted({1: [r("Paris"), r("  paris "), r("PARIS")]}, steps=["Name the city."])
    result = await Maker(model, trace=False, k=3).run("Capital of France?")
    assert result.answer.endswith("The answer is Paris")


async def test_the_sample_cap_picks_the_leader_and_breaks_ties_by_who_got_there_first() -> None:
    model = scripted({1: [r("A"), r("B"), r("B"), r("A")]}, steps=["Only step."])
    method = Maker(model, trace=False, k=3, max_samples=4)
    result = await method.run(TASK)
    # A2 B2: B reached 2 votes at sample 3, A only at sample 4.
    assert result.final_answer == "B"
    assert result.details["steps"][0]["decided"] is False


async def test_a_step_with_only_red_flagged_samples_fails_clearly() -> None:
    model = scripted({1: ["junk"] * 3}, steps=["Only step."])
    with pytest.raises(StructuredOutputError, match=r"maker: step 1 \(micro_1\) got no answer .* in 3 samples"):
        await Maker(model, trace=False, max_samples=3).run(TASK)


async def test_the_decomposition_is_limited_to_max_steps() -> None:
    replies = iter([json.dumps({"steps": ["a", "b", "c"]}), json.dumps({"steps": ["a", "b"]})])

    def respond(request: ModelRequest) -> str:
        if (request.messages[0].content or "").startswith("You split a task"):
            return next(replies)
        return r("x")

    model = ScriptedModel(respond)
    result = await Maker(model, trace=False, k=1, max_steps=2).run(TASK)
    assert result.usage_by_agent["decomposer"].calls == 2  # three steps were too many: asked again
    assert "at most 2 items" in (model.requests[1].messages[-1].content or "")
    assert result.usage.calls == 2 + 2
