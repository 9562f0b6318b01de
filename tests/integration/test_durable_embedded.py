"""The embedded model's agent, journaled, killed with ``kill -9`` while it generates, then resumed."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_an_embedded_agent_killed_mid_generation_resumes_and_answers(model_cache: Path, tmp_path: Path) -> None:
    env = {**os.environ, "AGORAKIT_HOME": str(tmp_path), "COLUMNS": "200"}
    for name in ("AGORAKIT_TRACE_DB", "AGORAKIT_MODEL", "AGORAKIT_JOURNAL_DB"):
        env.pop(name, None)
    agora = [sys.executable, "-m", "agorakit.cli.main"]
    process = subprocess.Popen(
        [*agora, "run", "What is 17 * 23?", "--durability", "sync"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = tmp_path / "journal.db"
    deadline = time.monotonic() + 240
    steps = 0
    # The first step (the calculator call) is journaled with its result; the answer is being generated.
    while steps < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the first step was never journaled"
        time.sleep(0.02)
        if journal.exists():
            with sqlite3.connect(journal) as db, contextlib.suppress(sqlite3.OperationalError):  # not created yet
                steps = db.execute("SELECT count(*) FROM steps").fetchone()[0]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    with sqlite3.connect(journal) as db:
        (run_id, status), *_ = db.execute("SELECT run_id, status FROM runs").fetchall()
        kinds = [key[0] for (key,) in db.execute("SELECT key FROM steps ORDER BY seq")]
    assert status == "running" and kinds[:2] == ["m", "t"]

    resumed = subprocess.run([*agora, "resume", run_id], env=env, capture_output=True, text=True, timeout=300)

    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    lines = resumed.stdout.splitlines()
    assert "391" in lines[0]
    assert " model call(s) · " in lines[1]
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT status, owner FROM runs").fetchone() == ("final_answer", None)


def test_an_embedded_run_paused_for_approval_is_approved_and_finished_by_agora_approve(
    model_cache: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "AGORAKIT_HOME": str(tmp_path), "COLUMNS": "200", "NO_COLOR": "1"}
    for name in ("AGORAKIT_TRACE_DB", "AGORAKIT_MODEL", "AGORAKIT_JOURNAL_DB"):
        env.pop(name, None)
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nfallback: ask\ntools:\n  current_time:\n    - effect: allow\n")
    agora = [sys.executable, "-m", "agorakit.cli.main"]
    paused = subprocess.run(
        [*agora, "run", "What is 17 * 23?", "--durability", "sync", "--policy", str(policy)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert paused.returncode == 3, (paused.stdout, paused.stderr)
    with sqlite3.connect(tmp_path / "journal.db") as db:
        (run_id, status), *_ = db.execute("SELECT run_id, status FROM runs").fetchall()
    assert status == "awaiting_approval"
    assert "waits for approval of calculator" in paused.stdout and f"agora approve {run_id}" in paused.stdout

    approved = subprocess.run(
        [*agora, "approve", run_id, "--yes"], env=env, capture_output=True, text=True, timeout=300
    )

    assert approved.returncode == 0, (approved.stdout, approved.stderr)
    lines = approved.stdout.splitlines()
    assert lines[0] == f"run {run_id} waits to call calculator (id {lines[0].split('(id ')[1]}"
    assert lines[1].startswith('  arguments: {"expression": ')
    assert any("391" in line for line in lines[3:])
    with sqlite3.connect(tmp_path / "journal.db") as db:
        assert db.execute("SELECT status FROM runs").fetchone() == ("final_answer",)
