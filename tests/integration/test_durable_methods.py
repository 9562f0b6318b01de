"""Multi-agent methods, journaled, killed with ``kill -9`` mid-round in real processes, then resumed.

The scripted model answers each request from its content (so a resumed process
answers exactly as the killed one would have) and logs every call it serves; at
the chosen call it stops before answering, and the test kills the process there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHILD = r"""
import json, os, sys, time
from pathlib import Path
from agorakit.methods.llm_debate import LLMDebate
from agorakit.methods.magentic_one import MagenticOne
from agorakit.models.scripted import ScriptedModel

method_name, calls_log, mode, run_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
pause_at = int(os.environ.get("PAUSE_AT", "0"))
FACTS = json.dumps(
    {"given_or_verified": ["48 in April"], "to_look_up": [], "to_derive": ["May"], "educated_guesses": []}
)
PLAN = json.dumps({"steps": ["solver computes", "verifier checks"]})

def ledger(speaker, satisfied=False):
    field = lambda answer: {"reason": "because", "answer": answer}
    return json.dumps({
        "is_request_satisfied": field(satisfied), "is_in_loop": field(False), "is_progress_being_made": field(True),
        "next_speaker": field(speaker), "instruction_or_question": field(f"{speaker}, your turn"),
    })

def magentic(request):
    texts = [m.content or "" for m in request.messages]
    first = texts[0]
    if request.messages[0].role == "system" and first.startswith("You are "):
        return "May is 24, total 72." if "solver" in first.split()[2] else "Checked: 72 is right."
    last = [t for m, t in zip(request.messages, texts) if m.role == "user"][-1]
    if "Before starting, fill in a short pre-survey" in last:
        return FACTS
    if "Now draft a short plan" in last:
        return PLAN
    if "We have finished working" in last:
        return "Natalia sold 72 clips.\nThe answer is 72"
    spoken = sum(1 for t in texts if t.startswith(("solver: ", "verifier: ")))
    return [ledger("solver"), ledger("verifier")][spoken] if spoken < 2 else ledger("solver", satisfied=True)

def debate(request):
    return f"After {len(request.messages)} messages I think the answer is {40 + len(request.messages)}."

def respond(request):
    served = len(calls_log.read_text().splitlines()) if calls_log.exists() else 0
    if served + 1 == pause_at:
        Path(str(calls_log) + ".paused").write_text("paused")
        time.sleep(600)
    with calls_log.open("a") as log:
        log.write("call\n")
    return magentic(request) if method_name == "magentic_one" else debate(request)

model = ScriptedModel(respond)
method = MagenticOne(model, trace=False) if method_name == "magentic_one" else LLMDebate(model, trace=False)
task = "Natalia sold 48 clips in April and half as many in May. How many in all?"
result = method.run_sync(task, durability="sync", run_id=run_id) if mode == "run" else method.resume_sync(run_id)
print(json.dumps({"answer": result.answer, "final": result.final_answer, "calls": result.usage.calls,
                  "by_agent": {k: v.calls for k, v in result.usage_by_agent.items()},
                  "transcript": [m.to_dict() for m in result.transcript]}))
"""


def start(folder: Path, method: str, mode: str, run_id: str, pause_at: int = 0) -> subprocess.Popen[str]:
    child = folder / "child.py"
    child.write_text(CHILD)
    env = {**os.environ, "AGORAKIT_HOME": str(folder), "AGORAKIT_JOURNAL_DB": str(folder / "journal.db")}
    return subprocess.Popen(
        [sys.executable, str(child), method, str(folder / "calls.log"), mode, run_id],
        env={**env, "PAUSE_AT": str(pause_at)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> dict[str, object]:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def served(folder: Path) -> int:
    log = folder / "calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    results = {}
    for method in ("llm_debate", "magentic_one"):
        folder = tmp_path_factory.mktemp(method)
        results[method] = {**finish(start(folder, method, "run", "whole")), "served": served(folder)}
    assert results["llm_debate"]["served"] == 6  # 3 agents x 2 rounds
    assert results["magentic_one"]["served"] == 8  # facts, plan, 3 ledgers, 2 workers, final answer
    assert results["magentic_one"]["final"] == "72"
    return results


# llm_debate: calls 2 and 3 are in round 1 (its other agents' calls done), 5 in round 2.
# magentic_one: 2 is the plan, 4 the solver's turn, 5 and 7 progress ledgers.
CASES = [("llm_debate", 2), ("llm_debate", 3), ("llm_debate", 5), ("magentic_one", 2), ("magentic_one", 4),
         ("magentic_one", 5), ("magentic_one", 7)]  # fmt: skip


@pytest.mark.parametrize(("method", "pause_at"), CASES)
def test_a_method_killed_mid_round_resumes_with_the_uninterrupted_totals(
    tmp_path: Path, uninterrupted: dict[str, dict[str, object]], method: str, pause_at: int
) -> None:
    process = start(tmp_path, method, "run", "cut", pause_at)
    deadline = time.monotonic() + 60
    while not (tmp_path / "calls.log.paused").exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert served(tmp_path) == pause_at - 1

    resumed = finish(start(tmp_path, method, "resume", "cut"))

    whole = uninterrupted[method]
    assert served(tmp_path) == whole["served"]  # no call made twice, none skipped
    assert resumed["calls"] == whole["calls"] and resumed["by_agent"] == whole["by_agent"]
    assert resumed["answer"] == whole["answer"] and resumed["final"] == whole["final"]
    assert resumed["transcript"] == whole["transcript"]
