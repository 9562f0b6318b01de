"""Acceptance: `agora analyze` runs on a failed debate run and names an agent and a step.

llm_debate (2 agents, 2 rounds, 64 tokens a turn) answers a GSM8K question with the
embedded model into a tmp trace database; `agora analyze last` then judges it with the
same model, grammar-constrained to the transcript's agents and step range.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agorakit.cli.main import app
from agorakit.eval.analysis.transcript import load_transcript
from agorakit.eval.datasets import load_dataset, select
from agorakit.methods.llm_debate import LLMDebate
from agorakit.models.llamacpp import LlamaCppModel
from agorakit.trace.store import open_store

pytestmark = pytest.mark.integration

BLAME = re.compile(r"all-at-once: (\S+) at step (\d+) \((\d+) judge calls?\)")


def test_analyze_names_an_agent_and_a_step_of_an_embedded_debate(
    gemma: LlamaCppModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "traces.db"
    monkeypatch.setenv("AGORAKIT_TRACE_DB", str(db))
    monkeypatch.setenv("AGORAKIT_CAPTURE_CONTENT", "1")
    sample = select(load_dataset("gsm8k"), limit=1, seed=0)[0]
    LLMDebate(gemma, agents=2, rounds=2, max_tokens=64, trace=db).run_sync(sample.question)
    open_store(db).flush()
    transcript = load_transcript("last")
    assert [step.agent for step in transcript.steps] == ["debater_1", "debater_2", "debater_1", "debater_2"]

    args = ["analyze", "last", "--how", "all-at-once", "--judge", "llamacpp:gemma-3-270m", "--max-tokens", "128"]
    result = CliRunner().invoke(
        app, [*args, "--ground-truth", sample.answer], env={"COLUMNS": "220", "NO_COLOR": "1", "TERM": "dumb"}
    )
    assert result.exit_code == 0, result.output
    found = BLAME.search(result.output)
    assert found is not None, result.output
    agent, step = found.group(1), int(found.group(2))
    assert agent in {"debater_1", "debater_2"}
    assert 0 <= step < len(transcript.steps)
    assert f"step {step} · {transcript.steps[step].agent}:" in result.output
