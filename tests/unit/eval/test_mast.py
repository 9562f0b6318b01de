"""The MAST taxonomy and classification with a scripted judge."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from agorakit import ScriptedModel
from agorakit.eval.analysis.mast import MODES, MODES_BY_ID, classify, taxonomy_text
from agorakit.eval.analysis.transcript import Transcript
from agorakit.methods.structured import StructuredOutputError

LOG = Transcript.from_steps("Add 2 and 2.", [("a", "It is 5."), ("b", "Agreed, 5."), ("a", "It is 5."), ("b", "Done.")])


def reply(failures: list[dict[str, Any]], summary: str = "they agreed on a wrong sum") -> str:
    return json.dumps({"failures": failures, "summary": summary})


def test_the_taxonomy_has_fourteen_modes_in_three_categories() -> None:
    assert [mode.id for mode in MODES] == [
        "1.1", "1.2", "1.3", "1.4", "1.5",
        "2.1", "2.2", "2.3", "2.4", "2.5", "2.6",
        "3.1", "3.2", "3.3",
    ]  # fmt: skip
    assert Counter(mode.category for mode in MODES) == {
        "specification issues": 5,
        "inter-agent misalignment": 6,
        "task verification": 3,
    }
    assert MODES_BY_ID["1.3"].name == "Step Repetition"
    assert MODES_BY_ID["2.6"].name == "Reasoning-Action Mismatch"
    assert MODES_BY_ID["3.3"].name == "Incorrect Verification"
    assert all(mode.definition.endswith(".") for mode in MODES)


async def test_classify_returns_modes_in_taxonomy_order_each_once() -> None:
    judge = ScriptedModel([reply([{"id": "3.2", "step": 3}, {"id": "1.3", "step": 2}, {"id": "1.3", "step": 0}])])
    report = await classify(LOG, judge, ground_truth="4")
    assert report.ids == ["1.3", "3.2"]
    repetition, verification = report.failures
    assert (repetition.name, repetition.category, repetition.step) == ("Step Repetition", "specification issues", 2)
    assert (verification.name, verification.category, verification.step) == (
        "No or Incomplete Verification",
        "task verification",
        3,
    )
    assert report.summary == "they agreed on a wrong sum"
    assert report.calls == 1
    schema = judge.requests[0].response_schema or {}
    assert schema["properties"]["failures"]["maxItems"] == 6
    assert schema["$defs"]["MastFinding"]["properties"]["step"]["enum"] == [0, 1, 2, 3]
    text = judge.requests[0].messages[-1].content or ""
    assert taxonomy_text() in text
    assert "Step 2 - a: It is 5." in text and "The correct answer to the problem is: 4" in text
    assert all(f"{mode.id} {mode.name}: {mode.definition}" in text for mode in MODES)


async def test_an_unknown_mode_id_is_asked_again() -> None:
    judge = ScriptedModel([reply([{"id": "4.1", "step": 0}]), reply([{"id": "2.5", "step": 1}])])
    report = await classify(LOG, judge)
    assert report.ids == ["2.5"] and report.calls == 2
    assert (judge.requests[1].messages[-1].content or "").startswith("That reply was not valid")


async def test_a_step_outside_the_log_is_asked_again() -> None:
    judge = ScriptedModel([reply([{"id": "1.1", "step": 4}]), reply([{"id": "1.1", "step": 0}])])
    report = await classify(LOG, judge)
    assert [(f.id, f.step) for f in report.failures] == [("1.1", 0)] and report.calls == 2


async def test_unknown_ids_every_time_are_an_error() -> None:
    judge = ScriptedModel([reply([{"id": "9.9", "step": 0}])] * 3)
    with pytest.raises(StructuredOutputError):
        await classify(LOG, judge)
    assert len(judge.requests) == 3


async def test_no_failure_found() -> None:
    report = await classify(LOG, ScriptedModel([reply([], "nothing wrong")]))
    assert (report.failures, report.summary) == ((), "nothing wrong")
