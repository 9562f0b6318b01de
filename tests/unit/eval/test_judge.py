"""The LLM judge for free-form answers, driven by a scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agorakit.eval.checking.judge import MAX_PREDICTION_CHARS, JudgeReply, judge_answer, judge_messages
from agorakit.eval.sample import Sample
from agorakit.kernel import Kernel
from agorakit.methods.structured import StructuredOutputError
from agorakit.models.scripted import ScriptedModel

SAMPLE = Sample("capitals", "1", "What is the capital of France?", "Paris", "text")


async def test_valid_reply() -> None:
    model = ScriptedModel(['{"reason": "Both name Paris.", "correct": true}'])
    verdict = await judge_answer(model, SAMPLE, "It is Paris, of course.", kernel=Kernel())
    assert (verdict.correct, verdict.reason) == (True, "Both name Paris.")
    assert verdict.usage.calls == 1
    request = model.requests[0]
    assert request.response_schema == JudgeReply.model_json_schema()
    assert list(request.response_schema["properties"]) == ["reason", "correct"]  # reason before the decision
    prompt = request.messages[-1].content or ""
    assert "Question:\nWhat is the capital of France?" in prompt
    assert "Reference answer:\nParis" in prompt
    assert "Candidate's answer:\nIt is Paris, of course." in prompt
    assert request.sampling.temperature == 0.0


async def test_fenced_json_reply() -> None:
    reply = 'Sure.\n```json\n{"reason": "Lyon is not Paris.", "correct": false}\n```'
    verdict = await judge_answer(ScriptedModel([reply]), SAMPLE, "Lyon", kernel=Kernel())
    assert (verdict.correct, verdict.reason) == (False, "Lyon is not Paris.")


async def test_invalid_reply_is_retried_with_the_problem_shown() -> None:
    model = ScriptedModel(['{"correct": "maybe"}', '{"reason": "Same city.", "correct": true}'])
    verdict = await judge_answer(model, SAMPLE, "paris", kernel=Kernel())
    assert verdict.correct and verdict.usage.calls == 2
    retry = model.requests[1].messages[-1].content or ""
    assert retry.startswith(
        "That reply was not valid: reason: Field required; correct: Input should be a valid boolean"
    )


async def test_invalid_replies_end_in_a_clear_error() -> None:
    model = ScriptedModel(["I think it is right."] * 3)
    with pytest.raises(StructuredOutputError) as caught:
        await judge_answer(model, SAMPLE, "Paris", kernel=Kernel(), retries=2)
    assert caught.value.message == (
        "judge gave no valid JudgeReply in 3 tries (last problem: the reply contains no JSON object)"
    )
    assert len(model.requests) == 3


async def test_model_by_uri(tmp_path: Path) -> None:
    script = tmp_path / "judge.yaml"
    script.write_text(json.dumps([{"text": '{"reason": "Names Paris.", "correct": true}'}]))
    verdict = await judge_answer(f"scripted:{script}", SAMPLE, "Paris", kernel=Kernel())
    assert (verdict.correct, verdict.reason, verdict.usage.calls) == (True, "Names Paris.", 1)


def test_long_predictions_keep_their_tail() -> None:
    prompt = judge_messages(SAMPLE, "x" * 10_000 + " FINAL: Paris")[-1].content or ""
    assert "Candidate's answer:\n[...]\n" + "x" * (MAX_PREDICTION_CHARS - 13) + " FINAL: Paris\n" in prompt
    assert "x" * (MAX_PREDICTION_CHARS - 12) not in prompt
