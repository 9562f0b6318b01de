"""The Who&When loader (the packaged copy and small hand-made files) and scoring with a scripted judge."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.eval.analysis.who_and_when import author, data_dir, load_who_and_when, score_attribution
from agorakit.models.base import ModelRequest


def record(number: int, mistake_agent: str, mistake_step: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "source_file": f"Who&When/Hand-Crafted/{number}.json",
        "question": f"question {number}",
        "ground_truth": f"answer {number}",
        "history": history,
        "mistake_agent": mistake_agent,
        "mistake_step": str(mistake_step),  # upstream stores it as a string
        "mistake_reason": f"reason {number}",
    }


HISTORY = [
    {"role": "human", "content": "the question"},
    {"role": "Orchestrator (thought)", "content": "plan: search"},
    {"role": "Orchestrator (-> WebSurfer)", "content": "search for it"},
    {"role": "WebSurfer", "content": "clicked a wrong link"},
]
CASES = [
    record(1, "WebSurfer", 3, HISTORY),
    record(2, "Websurfer", 2, HISTORY),  # the label's spelling differs from the role's
    record(3, "Orchestrator", 1, HISTORY),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    with gzip.open(tmp_path / "hand_crafted.jsonl.gz", "wt", encoding="utf-8") as out:
        for case in CASES:
            out.write(json.dumps(case) + "\n")
    return tmp_path


def test_the_packaged_copy_has_126_plus_58_cases() -> None:
    generated = load_who_and_when("algorithm_generated")
    crafted = load_who_and_when("hand_crafted")
    assert (len(generated), len(crafted)) == (126, 58)
    assert [case.id for case in generated[:2]] == ["algorithm_generated/1", "algorithm_generated/2"]
    first = generated[0]
    # Algorithm-Generated/1.json: Excel_Expert's step 0 is the labelled mistake.
    assert (first.mistake_agent, first.mistake_step, first.answer) == ("Excel_Expert", 0, "8")
    assert first.transcript.steps[0].agent == "Excel_Expert"
    assert crafted[0].transcript.steps[0].agent == "human"
    assert "Orchestrator" in crafted[0].transcript.agents
    assert all(0 <= case.mistake_step < len(case.transcript.steps) for case in generated + crafted)
    assert (data_dir() / "SOURCE.md").is_file()


def test_authors_come_from_names_or_roles_without_their_suffix() -> None:
    assert author({"role": "user", "name": "Computer_terminal"}) == "Computer_terminal"
    assert author({"role": "Orchestrator (thought)"}) == "Orchestrator"
    assert author({"role": "Orchestrator (-> WebSurfer)"}) == "Orchestrator"
    assert author({"role": "WebSurfer"}) == "WebSurfer"


def test_loading_a_small_file(root: Path) -> None:
    cases = load_who_and_when("hand_crafted", root=root)
    assert [case.id for case in cases] == ["hand_crafted/1", "hand_crafted/2", "hand_crafted/3"]
    first = cases[0]
    assert first.transcript.task == "question 1"
    assert [(s.index, s.agent) for s in first.transcript.steps] == [
        (0, "human"),
        (1, "Orchestrator"),
        (2, "Orchestrator"),
        (3, "WebSurfer"),
    ]
    assert (first.answer, first.mistake_agent, first.mistake_step, first.mistake_reason) == (
        "answer 1",
        "WebSurfer",
        3,
        "reason 1",
    )
    assert len(load_who_and_when("hand_crafted", limit=2, root=root)) == 2


def test_a_missing_file_or_subset_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Who&When data is missing"):
        load_who_and_when("hand_crafted", root=tmp_path)
    with pytest.raises(ConfigError, match="unknown Who&When subset"):
        load_who_and_when("both", root=tmp_path)  # type: ignore[arg-type]


def blame_for(answers: dict[str, str]) -> ScriptedModel:
    """A judge answering by the question it is shown (in the first prompt, also on a retry)."""

    def respond(request: ModelRequest) -> str:
        text = request.messages[1].content or ""
        return next(reply for question, reply in answers.items() if f"{question}\n" in text)

    return ScriptedModel(respond)


async def test_scoring_all_at_once_against_the_labels(root: Path) -> None:
    judge = blame_for(
        {
            "question 1": json.dumps({"agent": "WebSurfer", "step": 3, "reason": "bad click"}),  # both right
            "question 2": json.dumps({"agent": "WebSurfer", "step": 3, "reason": "bad click"}),  # agent right
            "question 3": json.dumps({"agent": "nobody", "step": 1, "reason": "?"}),  # never valid: no prediction
        }
    )
    progress: list[tuple[int, int]] = []
    score = await score_attribution(
        judge, "all_at_once", subset="hand_crafted", root=root, progress=lambda d, t: progress.append((d, t))
    )
    assert (score.n, score.agent_correct, score.step_correct, score.failed) == (3, 2, 1, 1)
    assert score.agent_accuracy == pytest.approx(2 / 3) and score.step_accuracy == pytest.approx(1 / 3)
    assert score.calls == 2 and len(judge.requests) == 2 + 3  # the third case was tried three times
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert "The correct answer to the problem is: answer 1" in (judge.requests[0].messages[-1].content or "")


async def test_scoring_without_the_answer_and_with_a_limit(root: Path) -> None:
    judge = ScriptedModel([json.dumps({"agent": "Orchestrator", "step": 1, "reason": "bad plan"})])
    score = await score_attribution(judge, "all_at_once", 1, "hand_crafted", with_ground_truth=False, root=root)
    assert (score.n, score.agent_correct, score.step_correct) == (1, 0, 0)
    assert "correct answer" not in (judge.requests[0].messages[-1].content or "")


async def test_step_by_step_without_a_yes_counts_as_no_prediction(root: Path) -> None:
    judge = ScriptedModel([json.dumps({"error": False, "reason": "fine"})] * 4)
    score = await score_attribution(judge, "step_by_step", 1, "hand_crafted", root=root)
    assert (score.n, score.agent_correct, score.step_correct, score.failed, score.calls) == (1, 0, 0, 1, 4)
