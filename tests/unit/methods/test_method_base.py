"""The method interface, sessions, structured outputs and answer extraction."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods import REGISTRY, StructuredOutputError, create, extract_answer
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.trace import MemorySink


async def test_vanilla_is_one_call_with_the_task_and_a_full_result() -> None:
    model = ScriptedModel(["The answer is 42."])
    result = await create("vanilla", model, trace=MemorySink()).run("What is 6 * 7?")
    assert len(model.requests) == 1
    assert [(m.role, m.content) for m in model.requests[0].messages] == [("user", "What is 6 * 7?")]
    assert (result.method, result.answer, result.final_answer) == ("vanilla", "The answer is 42.", "42")
    transcript = [(m.name, m.content) for m in result.transcript]
    assert transcript == [("user", "What is 6 * 7?"), ("assistant", "The answer is 42.")]
    assert result.usage.calls == 1
    assert result.usage_by_agent["assistant"].calls == 1


async def test_cot_asks_for_steps_and_the_answer_line() -> None:
    model = ScriptedModel(["6 * 7: six sevens are 42.\nThe answer is 42"])
    result = await create("cot", model, trace=False).run("What is 6 * 7?")
    system = model.requests[0].messages[0]
    assert system.role == "system" and "step by step" in (system.content or "")
    assert result.final_answer == "42"


def test_registry_and_config_errors() -> None:
    assert {"vanilla", "cot"} <= set(REGISTRY)
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        create("nope")
    with pytest.raises(ConfigError, match="unknown setting"):
        create("vanilla", ScriptedModel([]), rounds=3)


class Vote(BaseModel):
    choice: int
    reason: str


class Structured(Method):
    name = "structured_probe"
    summary = "test"
    paper = "test"

    async def solve(self, task: str, session: Session) -> str:
        vote = await session.structured("judge", [Message("user", task)], Vote)
        return f"The answer is {vote.choice}"


async def test_structured_output_tolerates_fences_and_retries_invalid_replies() -> None:
    model = ScriptedModel(
        [
            '```json\n{"choice": "two", "reason": "x"}\n```',  # wrong type
            '{"reason": "missing choice"}',  # missing field
            'Sure! ```json\n{"choice": 2, "reason": "fenced but valid"}\n```',
        ]
    )
    result = await Structured(model, trace=False).run("pick")
    assert result.final_answer == "2"
    assert len(model.requests) == 3
    retry = model.requests[1].messages[-1].content or ""
    assert "That reply was not valid: choice: Input should be a valid integer" in retry
    assert "choice: Field required" in (model.requests[2].messages[-1].content or "")
    assert model.requests[0].response_schema == Vote.model_json_schema()


async def test_structured_output_fails_clearly_after_its_retries() -> None:
    model = ScriptedModel(["no json here", "still none", "nope"])
    with pytest.raises(StructuredOutputError, match="judge gave no valid Vote in 3 tries"):
        await Structured(model, trace=False).run("pick")


async def test_structured_output_closes_a_reply_cut_short() -> None:
    # As llama_cpp.server returned it: the reason string stopped at a newline, the object never closed.
    model = ScriptedModel(['{ "choice": 3, "reason": "the third option adds up\n'])
    result = await Structured(model, trace=False).run("pick")
    assert result.final_answer == "3" and len(model.requests) == 1


async def test_an_object_cut_short_after_a_list_is_read_as_the_object() -> None:
    # The embedded recruiter ran out of tokens right after its list: the list alone is not the answer.
    model = ScriptedModel(['{"choice": 2, "reason": "r", "tags": ["a", "b"]'])
    result = await Structured(model, trace=False).run("pick")
    assert result.final_answer == "2" and len(model.requests) == 1


async def test_a_cut_short_reply_missing_a_field_is_still_retried() -> None:
    model = ScriptedModel(['{ "reason": "no choice yet', '{"choice": 1, "reason": "r"}'])
    result = await Structured(model, trace=False).run("pick")
    assert result.final_answer == "1" and len(model.requests) == 2
    assert "choice: Field required" in (model.requests[1].messages[-1].content or "")


async def test_roles_can_use_different_models() -> None:
    judge = ScriptedModel(['{"choice": 1, "reason": "r"}'])
    default = ScriptedModel([])
    result = await Structured(default, models={"judge": judge}, trace=False).run("pick")
    assert result.final_answer == "1"
    assert len(judge.requests) == 1 and not default.requests


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{\\frac{1}{2}} is it", "\\frac{1}{2}"),
        ("The answer is 1,234.", "1234"),
        ("Final answer: 3.50", "3.5"),
        ("first 3 then 7", "7"),
        ("The answer is Paris.", "Paris"),
        ("", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize("task", ["", "  \n"])
async def test_a_method_refuses_an_empty_task(task: str) -> None:
    model = ScriptedModel([])
    with pytest.raises(ConfigError, match="cot: the task is empty"):
        await create("cot", model, trace=False).run(task)
    assert model.requests == []
