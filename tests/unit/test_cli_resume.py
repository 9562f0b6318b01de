"""`agora run --durability` and `agora resume`, through the real entry point in subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CALC_SCRIPT = [
    {"tool_call": {"name": "calculator", "arguments": {"expression": "17 * 23"}}},
    {"text": "391"},
]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGORAKIT_", "OPENAI_"))}
    return {
        **clean,
        "AGORAKIT_HOME": str(tmp_path / "home"),
        "AGORAKIT_TRACE_DB": str(tmp_path / "traces.db"),
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "250",
    }


def agora(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agorakit.cli.main", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_a_journaled_run_says_its_id_and_resuming_it_after_it_finished_replays_its_answer(
    tmp_path: Path, env: dict[str, str]
) -> None:
    script = tmp_path / "calc.yaml"
    script.write_text(yaml.safe_dump(CALC_SCRIPT))
    ran = agora(env, "run", "What is 17 * 23?", "--model", f"scripted:{script}", "--durability", "sync")
    assert ran.returncode == 0, ran.stderr
    found = re.search(r"journaled: agora resume (\S+)\)", ran.stdout)
    assert found is not None, ran.stdout
    run_id = found.group(1)
    assert "391" in ran.stdout.splitlines()

    # The script would start again from its tool call: the answer can only come from the journal.
    resumed = agora(env, "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stdout.splitlines()
    assert lines[0] == f"run {run_id} had finished (final_answer); its result, replayed from the journal:"
    assert lines[1] == "391"
    assert lines[2].startswith("2 step(s) · 2 model call(s) · ")


def test_resuming_an_unknown_run_explains_which_runs_can_be_resumed(env: dict[str, str]) -> None:
    done = agora(env, "resume", "no-such-run")
    assert done.returncode == 1
    assert "run no-such-run has no journal" in done.stdout
    assert "only runs started with --durability" in done.stdout


def test_a_bad_durability_is_a_usage_error(env: dict[str, str]) -> None:
    done = agora(env, "run", "What is 2 + 2?", "--model", "scripted:x.yaml", "--durability", "always")
    assert done.returncode == 2
    assert "'always': use sync, async or exit" in done.stderr


def test_a_journaled_method_run_resumes_from_the_cli(tmp_path: Path, env: dict[str, str]) -> None:
    script = tmp_path / "debate.yaml"
    script.write_text(yaml.safe_dump([{"text": "The answer is 12."}, {"text": "I say 12. The answer is 12."}]))
    run = ["run", "What is 5 + 7?", "--method", "llm_debate", "--set", "agents=2", "--set", "rounds=1"]
    ran = agora(env, *run, "--model", f"scripted:{script}", "--durability", "exit")
    assert ran.returncode == 0, ran.stderr
    found = re.search(r"journaled: agora resume (\S+)\)", ran.stdout)
    assert found is not None, ran.stdout
    assert "final answer: 12" in ran.stdout

    resumed = agora(env, "resume", found.group(1))
    assert resumed.returncode == 0, resumed.stderr
    assert "had finished (final_answer)" in resumed.stdout
    assert "final answer: 12" in resumed.stdout


def test_trace_show_marks_the_steps_a_resumed_run_replayed() -> None:
    from agorakit.cli.render import span_label
    from agorakit.trace import attributes as attr
    from agorakit.trace.records import SpanRecord

    replayed = SpanRecord("s1", "r", None, "chat s", 5, 9, "ok", {attr.INPUT_TOKENS: 3, attr.REPLAYED: True})
    fresh = SpanRecord("s2", "r", None, "chat s", 5, 9, "ok", {attr.INPUT_TOKENS: 3})
    assert "replayed from the journal" in span_label(replayed).plain
    assert "replayed" not in span_label(fresh).plain
