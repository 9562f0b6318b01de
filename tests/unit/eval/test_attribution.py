"""Failure attribution with a scripted judge: call counts, what the judge sees, validation and retries."""

from __future__ import annotations

import json

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.eval.analysis.attribution import attribute, clip
from agorakit.eval.analysis.transcript import Step, Transcript
from agorakit.methods.structured import StructuredOutputError
from agorakit.models.base import ModelRequest

TASK = "What is 6 * 7?"


def log(steps: int) -> Transcript:
    """``steps`` steps alternating between alice and bob, each saying ``message <i>``."""
    return Transcript.from_steps(TASK, [("alice" if i % 2 == 0 else "bob", f"message {i}") for i in range(steps)])


def prompt(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


def blame(agent: str, step: int, reason: str = "wrong sum") -> str:
    return json.dumps({"agent": agent, "step": step, "reason": reason})


def verdict(error: bool) -> str:
    return json.dumps({"error": error, "reason": "checked"})


def half(which: str) -> str:
    return json.dumps({"half": which, "reason": f"the {which} half"})


# -- transcripts ---------------------------------------------------------------


def test_from_messages_drops_the_task_and_system_and_names_authors() -> None:
    messages = [
        Message("system", "be brief"),
        Message("user", TASK, name="user"),
        Message("assistant", "I think 41", name="solver"),
        Message("tool", "42", name="calculator"),
        Message("assistant", "The answer is 42"),
        Message("user", "are you sure?", name="human"),
    ]
    transcript = Transcript.from_messages(messages, run_id="r1", method="m")
    assert transcript.task == TASK
    assert transcript.steps == (
        Step(0, "solver", "I think 41"),
        Step(1, "calculator", "42"),
        Step(2, "assistant", "The answer is 42"),
        Step(3, "human", "are you sure?"),
    )
    assert transcript.agents == ["solver", "calculator", "assistant", "human"]
    assert (transcript.run_id, transcript.method) == ("r1", "m")


# -- all at once ---------------------------------------------------------------


async def test_all_at_once_one_call_sees_the_whole_log_and_the_answer() -> None:
    judge = ScriptedModel([blame("bob", 3)])
    found = await attribute(log(6), judge, method="all_at_once", ground_truth="42")
    assert (found.agent, found.step, found.reason, found.method) == ("bob", 3, "wrong sum", "all_at_once")
    assert found.found
    assert found.calls == 1 and found.usage.calls == 1
    text = prompt(judge.requests[0])
    assert TASK in text and "The correct answer to the problem is: 42" in text
    for i in range(6):
        assert f"Step {i} - {'alice' if i % 2 == 0 else 'bob'}: message {i}" in text
    schema = judge.requests[0].response_schema
    assert schema is not None
    assert schema["properties"]["agent"]["enum"] == ["alice", "bob"]
    assert schema["properties"]["step"]["enum"] == [0, 1, 2, 3, 4, 5]


async def test_without_ground_truth_the_answer_is_not_shown() -> None:
    judge = ScriptedModel([blame("alice", 0)])
    await attribute(log(2), judge)
    assert "correct answer" not in prompt(judge.requests[0])


async def test_an_agent_not_in_the_log_is_asked_again() -> None:
    judge = ScriptedModel([blame("carol", 1), "```json\n" + blame("bob", 1) + "\n```"])
    found = await attribute(log(4), judge)
    assert (found.agent, found.step, found.calls) == ("bob", 1, 2)
    retry = prompt(judge.requests[1])
    assert retry.startswith("That reply was not valid") and "agent" in retry


async def test_a_step_outside_the_log_is_asked_again() -> None:
    judge = ScriptedModel([blame("bob", 4), blame("bob", 3)])
    found = await attribute(log(4), judge)
    assert (found.step, found.calls) == (3, 2)


async def test_an_invalid_agent_every_time_is_an_error_after_the_retries() -> None:
    judge = ScriptedModel([blame("carol", 1)] * 3)
    with pytest.raises(StructuredOutputError, match="3 tries"):
        await attribute(log(4), judge)
    assert len(judge.requests) == 3


async def test_long_steps_are_cut_in_prompts() -> None:
    transcript = Transcript.from_steps(TASK, [("alice", "x" * 2000)])
    judge = ScriptedModel([blame("alice", 0)])
    await attribute(transcript, judge, max_step_chars=1500)
    text = prompt(judge.requests[0])
    assert "x" * 1500 + " [... 500 more characters cut]" in text
    assert "x" * 1501 not in text
    assert clip("short", 10) == "short"


async def test_an_empty_log_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no agent steps"):
        await attribute(Transcript.from_steps(TASK, []), ScriptedModel([]))


async def test_an_unknown_method_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown attribution method"):
        await attribute(log(2), ScriptedModel([]), method="guess")  # type: ignore[arg-type]


# -- step by step --------------------------------------------------------------


async def test_step_by_step_stops_at_the_first_yes() -> None:
    judge = ScriptedModel([verdict(False), verdict(False), verdict(True), verdict(True)])
    found = await attribute(log(6), judge, method="step_by_step")
    assert (found.agent, found.step, found.calls) == ("alice", 2, 3)
    assert found.reason == "checked"
    assert judge.remaining == 1  # the fourth answer was never asked for
    for k, request in enumerate(judge.requests):
        text = prompt(request)
        # At step k the judge sees steps 0..k, and nothing after.
        assert all(f"Step {i} -" in text for i in range(k + 1))
        assert f"Step {k + 1} -" not in text
        assert f"The most recent step is step {k}, by {'alice' if k % 2 == 0 else 'bob'}" in text


async def test_step_by_step_without_a_yes_names_nobody() -> None:
    judge = ScriptedModel([verdict(False)] * 6)
    found = await attribute(log(6), judge, method="step_by_step")
    assert (found.agent, found.step, found.found, found.calls) == (None, None, False, 6)


# -- binary search -------------------------------------------------------------


async def test_binary_search_on_eight_steps_takes_three_calls() -> None:
    judge = ScriptedModel([half("first"), half("second"), half("first")])
    found = await attribute(log(8), judge, method="binary_search")
    # 0-7 -> first half 0-3 -> second half 2-3 -> first half: step 2.
    assert (found.agent, found.step, found.calls) == ("alice", 2, 3)
    assert found.reason == "the first half"
    shown = [[i for i in range(8) if f"Step {i} -" in prompt(request)] for request in judge.requests]
    assert shown == [list(range(8)), [0, 1, 2, 3], [2, 3]]
    assert "first half (steps 0 to 3) or the second half (steps 4 to 7)" in prompt(judge.requests[0])
    assert "first half (steps 2 to 2) or the second half (steps 3 to 3)" in prompt(judge.requests[2])


async def test_binary_search_lower_half_to_the_last_step() -> None:
    judge = ScriptedModel([half("second")] * 3)
    found = await attribute(log(8), judge, method="binary_search")
    assert (found.agent, found.step, found.calls) == ("bob", 7, 3)


async def test_binary_search_on_one_step_needs_no_call() -> None:
    found = await attribute(log(1), ScriptedModel([]), method="binary_search")
    assert (found.agent, found.step, found.calls) == ("alice", 0, 0)
