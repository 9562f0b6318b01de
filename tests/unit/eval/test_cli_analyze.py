"""`agora analyze` on a failed llm_debate run traced into a tmp database, judged by scripted models."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from agorakit import ScriptedModel
from agorakit.cli.main import app
from agorakit.core.errors import ConfigError
from agorakit.eval.analysis.transcript import load_transcript
from agorakit.methods.llm_debate import LLMDebate
from agorakit.trace.store import open_store

QUESTION = "Tom has 2 apples and buys 2 more. How many apples does he have?"
ANSWERS = [
    "2 + 2 = 4. The answer is 4",
    "2 + 2 = 5. The answer is 5",
    "The other agent says 5; I agree. The answer is 5",
    "I keep 5. The answer is 5",
]
WIDE = {"COLUMNS": "220", "NO_COLOR": "1", "TERM": "dumb"}


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A trace database holding one llm_debate run (2 agents, 2 rounds) that votes for the wrong answer."""
    path = tmp_path / "traces.db"
    monkeypatch.setenv("AGORAKIT_TRACE_DB", str(path))
    monkeypatch.setenv("AGORAKIT_CAPTURE_CONTENT", "1")
    result = LLMDebate(ScriptedModel(ANSWERS), agents=2, rounds=2, trace=path).run_sync(QUESTION)
    assert result.final_answer == "5"  # the run failed: the answer is 4
    open_store(path).flush()
    return path


def script(tmp_path: Path, *responses: Any) -> str:
    path = tmp_path / "judge.yaml"
    path.write_text(yaml.safe_dump([json.dumps(r) for r in responses]), encoding="utf-8")
    return f"scripted:{path}"


def analyze(*args: str) -> Result:
    return CliRunner().invoke(app, ["analyze", *args], env=WIDE)


def test_the_transcript_of_a_traced_debate(db: Path) -> None:
    transcript = load_transcript("last")
    assert transcript.task == QUESTION and transcript.method == "llm_debate"
    assert [(step.index, step.agent, step.content) for step in transcript.steps] == [
        (0, "debater_1", ANSWERS[0]),
        (1, "debater_2", ANSWERS[1]),
        (2, "debater_1", ANSWERS[2]),
        (3, "debater_2", ANSWERS[3]),
    ]
    assert transcript.agents == ["debater_1", "debater_2"]
    run_id = transcript.run_id or ""
    assert load_transcript(run_id[:10], db).run_id == run_id


def test_analyze_names_the_agent_and_the_step(db: Path, tmp_path: Path) -> None:
    judge = script(tmp_path, {"agent": "debater_2", "step": 1, "reason": "it claimed 2 + 2 = 5"})
    result = analyze("last", "--judge", judge, "--ground-truth", "4")
    assert result.exit_code == 0, result.output
    output = result.output
    assert f"task: {QUESTION}" in output
    assert "agents: debater_1, debater_2" in output
    assert "all-at-once: debater_2 at step 1 (1 judge call)" in output
    assert "step 1 · debater_2: 2 + 2 = 5. The answer is 5" in output
    assert "reason: it claimed 2 + 2 = 5" in output


def test_analyze_with_every_method(db: Path, tmp_path: Path) -> None:
    judge = script(
        tmp_path,
        {"agent": "debater_2", "step": 1, "reason": "wrong sum"},  # all at once
        {"error": False, "reason": "fine"},  # step by step: step 0
        {"error": True, "reason": "2 + 2 is not 5"},  # step 1: stop
        {"half": "first", "reason": "early"},  # binary search: 0-3 -> 0-1
        {"half": "second", "reason": "the second step"},  # 0-1 -> step 1
    )
    result = analyze("last", "--judge", judge, "--how", "all", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "all-at-once: debater_2 at step 1 (1 judge call)" in result.output
    assert "step-by-step: debater_2 at step 1 (2 judge calls)" in result.output
    assert "reason: 2 + 2 is not 5" in result.output
    assert "binary-search: debater_2 at step 1 (2 judge calls)" in result.output


def test_analyze_with_mast(db: Path, tmp_path: Path) -> None:
    judge = script(
        tmp_path,
        {"agent": "debater_1", "step": 2, "reason": "it gave in"},
        {"failures": [{"id": "2.5", "step": 2}], "summary": "debater_1 dropped its correct answer"},
    )
    result = analyze("last", "--judge", judge, "--mast")
    assert result.exit_code == 0, result.output
    assert "all-at-once: debater_1 at step 2" in result.output
    assert "2.5" in result.output and "Ignored Other Agent's Input" in result.output
    assert "summary: debater_1 dropped its correct answer" in result.output


def test_dialog_metrics_need_no_judge(db: Path) -> None:
    result = analyze("last", "--how", "none", "--dialog", "--judge", "scripted:/no/such/script.yaml")
    assert result.exit_code == 0, result.output
    for name in ("cluster entropy", "lexical repetition", "semantic similarity", "CORE", "Zipf", "Heaps"):
        assert name in result.output
    assert "turns" in result.output and "all-at-once" not in result.output


def test_usage_errors(db: Path) -> None:
    assert analyze().exit_code == 2  # neither RUN_ID nor --benchmark
    assert analyze("last", "--how", "guess").exit_code == 2
    assert analyze("last", "--benchmark", "who-and-when").exit_code == 2
    assert analyze("--benchmark", "nope").exit_code == 2


def test_an_unknown_run_is_a_config_error(db: Path) -> None:
    result = analyze("zzzz", "--how", "none")
    assert isinstance(result.exception, ConfigError) and "no run matches" in str(result.exception)


def test_benchmark_accuracy_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two hand-made cases in place of the packaged files: the judge gets the second one's step wrong.
    history = [
        {"role": "assistant", "name": "Planner", "content": "plan"},
        {"role": "user", "name": "Coder", "content": "code"},
    ]
    with gzip.open(tmp_path / "algorithm_generated.jsonl.gz", "wt", encoding="utf-8") as out:
        for number, step in ((1, 0), (2, 1)):
            case = {"source_file": f"{number}.json", "question": f"q{number}", "ground_truth": "a"}
            case |= {"history": history, "mistake_agent": "Planner", "mistake_step": str(step)}
            out.write(json.dumps(case) + "\n")
    monkeypatch.setattr("agorakit.eval.analysis.who_and_when.data_dir", lambda: tmp_path)
    judge = script(tmp_path, *[{"agent": "Planner", "step": 0, "reason": "bad plan"}] * 2)
    result = analyze("--benchmark", "who-and-when", "--judge", judge)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "all-at-once" in line)
    cells = row.split("\t")
    assert cells == ["algorithm_generated", "all-at-once", "2", "100.0%", "50.0%", "0", "2"]
