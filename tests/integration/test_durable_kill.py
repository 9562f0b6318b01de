"""Durable runs killed with ``kill -9`` in real processes, then resumed in new ones.

The agent appends 20 lines to a file through a non-idempotent tool that takes an
idempotency key; its scripted model asks for one line per step and logs every
call it serves to a file, so calls are counted across processes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CALLS = 20
RUN_ID = "durable-kill"

CHILD = r'''
import json, os, sys, time
from pathlib import Path
from agorakit import Agent, RunContext, tool
from agorakit.core.messages import ToolCall
from agorakit.models.scripted import Delay, ScriptedModel

out, calls_log, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
pause_at = int(os.environ.get("PAUSE_AT", "0"))  # the tool call to stop in, for the parent to kill us
pause_when = os.environ.get("PAUSE_WHEN", "after")  # before or after writing its line
slow = float(os.environ.get("SLOW", "0"))

def respond(request):
    with calls_log.open("a") as log:
        log.write("call\n")
    done = sum(1 for m in request.messages if m.role == "tool")
    if done < __CALLS__:
        reply = ToolCall(f"call-{done}", "append", {"text": f"line {done + 1}"})
    else:
        reply = f"wrote {done} lines"
    return Delay(slow, reply) if slow else reply

def pause(number, when):
    if number == pause_at and when == pause_when:
        Path(str(out) + ".paused").write_text(when)
        time.sleep(600)

@tool(idempotent="key")
def append(ctx: RunContext[None], text: str) -> str:
    """Append one line to the file."""
    key = ctx.idempotency_key
    lines = out.read_text().splitlines() if out.exists() else []
    if any(line.endswith(key) for line in lines):
        return "ok"  # done already: the same answer as the first time, as a keyed API gives
    pause(len(lines) + 1, "before")
    with out.open("a") as f:
        f.write(f"{text} {key}\n")
        f.flush()
        os.fsync(f.fileno())
    pause(len(lines) + 1, "after")
    if slow:
        time.sleep(slow)
    return "ok"

agent = Agent("writer", ScriptedModel(respond), tools=[append], max_steps=__CALLS__ + 2, trace=False)
if mode == "run":
    result = agent.run_sync("Write the lines.", durability="sync", run_id=sys.argv[4])
else:
    result = agent.resume_sync(sys.argv[4])
print(json.dumps({
    "output": result.output, "stop": result.stop_reason, "calls": result.usage.calls,
    "messages": [m.to_dict() for m in result.messages],
}))
'''.replace("__CALLS__", str(CALLS))


@pytest.fixture
def child(tmp_path: Path) -> Path:
    path = tmp_path / "child.py"
    path.write_text(CHILD)
    return path


def start(child: Path, folder: Path, mode: str, run_id: str, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "AGORAKIT_JOURNAL_DB": str(folder / "journal.db"), "AGORAKIT_HOME": str(folder)}
    return subprocess.Popen(
        [sys.executable, str(child), str(folder / "out.txt"), str(folder / "calls.log"), mode, run_id],
        env={**environment, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> dict[str, object]:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def kill_when_paused(process: subprocess.Popen[str], marker: Path) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the child never reached its pause point"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def calls_made(folder: Path) -> int:
    return len((folder / "calls.log").read_text().splitlines())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("plain")
    child = folder / "child.py"
    child.write_text(CHILD)
    result = finish(start(child, folder, "run", "plain"))
    assert result["stop"] == "final_answer" and result["output"] == f"wrote {CALLS} lines"
    assert len((folder / "out.txt").read_text().splitlines()) == CALLS
    result["model_calls"] = calls_made(folder)
    assert result["model_calls"] == CALLS + 1
    return result


# Kill points: the first and last tool calls, and five more drawn at random (seed
# AGORAKIT_TEST_SEED), each after its line was written and before its result was journaled
# (what a resume must not repeat); and two before the line was written.
_DRAWN = random.Random(int(os.environ.get("AGORAKIT_TEST_SEED", "7"))).sample(range(2, CALLS), 7)
KILL_POINTS = sorted(
    [(1, "after"), (CALLS, "after"), *((n, "after") for n in _DRAWN[:5]), *((n, "before") for n in _DRAWN[5:])]
)


@pytest.mark.parametrize(("pause_at", "when"), KILL_POINTS)
def test_killed_mid_tool_call_then_resumed_writes_each_line_once_and_calls_the_model_as_often(
    child: Path, tmp_path: Path, uninterrupted: dict[str, object], pause_at: int, when: str
) -> None:
    process = start(child, tmp_path, "run", RUN_ID, PAUSE_AT=str(pause_at), PAUSE_WHEN=when)
    kill_when_paused(process, tmp_path / "out.txt.paused")
    written = len((tmp_path / "out.txt").read_text().splitlines()) if (tmp_path / "out.txt").exists() else 0
    assert written == (pause_at if when == "after" else pause_at - 1)

    result = finish(start(child, tmp_path, "resume", RUN_ID))

    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert [line.split()[1] for line in lines] == [str(n) for n in range(1, CALLS + 1)]
    assert len({line.split()[2] for line in lines}) == CALLS  # one idempotency key per call
    assert result["output"] == uninterrupted["output"]
    assert result["messages"] == uninterrupted["messages"]
    assert result["calls"] == uninterrupted["calls"]
    assert calls_made(tmp_path) == uninterrupted["model_calls"]


def test_killed_at_random_moments_again_and_again_still_finishes_with_every_line_once(
    child: Path, tmp_path: Path, uninterrupted: dict[str, object]
) -> None:
    """Five kills at random moments of the same run (each resume is killed again), then a resume
    to the end. A kill between a model reply and its journal commit can cost one extra model
    call; no kill can cost a line."""
    rng = random.Random(int(os.environ.get("AGORAKIT_TEST_SEED", "7")))
    kills = 0
    mode = "run"
    for _ in range(5):
        process = start(child, tmp_path, mode, RUN_ID, SLOW="0.02")
        # Past the import (~1 s), into the run (20 steps of ~40 ms).
        deadline = time.monotonic() + 60
        while not (tmp_path / "calls.log").exists() or calls_made(tmp_path) <= kills:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.15))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        mode = "resume"
    result = finish(start(child, tmp_path, "resume", RUN_ID))

    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert [line.split()[1] for line in lines] == [str(n) for n in range(1, CALLS + 1)]
    assert result["output"] == uninterrupted["output"]
    assert result["messages"] == uninterrupted["messages"]
    assert kills >= 3
    assert uninterrupted["model_calls"] <= calls_made(tmp_path) <= uninterrupted["model_calls"] + kills


def test_two_processes_resuming_one_run_one_wins_and_the_other_is_told_why(
    child: Path, tmp_path: Path, uninterrupted: dict[str, object]
) -> None:
    process = start(child, tmp_path, "run", RUN_ID, PAUSE_AT="5", PAUSE_WHEN="after")
    kill_when_paused(process, tmp_path / "out.txt.paused")

    first, second = (start(child, tmp_path, "resume", RUN_ID, SLOW="0.05") for _ in range(2))
    outcomes = [(*p.communicate(timeout=120), p.returncode) for p in (first, second)]

    winners = [out for out, _, code in outcomes if code == 0]
    losers = [err for _, err, code in outcomes if code != 0]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert f"run {RUN_ID} is being run by another process" in losers[0]
    assert json.loads(winners[0].strip().splitlines()[-1])["output"] == uninterrupted["output"]
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert [line.split()[1] for line in lines] == [str(n) for n in range(1, CALLS + 1)]
