"""Ctrl-C: a real SIGINT to ``agora`` at random moments stops it cleanly.

Every interrupt must give exit 130, one ``interrupted`` line on stderr (no
traceback, no llama.cpp log line, no segfault), and leave the run in the
trace as ``cancelled``, never ``unfinished``.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fault_server import FaultServer, completion, delayed

pytestmark = pytest.mark.integration

INTERRUPTS = 20
RUN = ["run", "Explain in detail the history of Rome"]


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "AGORAKIT_HOME": str(home), "COLUMNS": "200"}
    env.pop("AGORAKIT_TRACE_DB", None)
    env.pop("AGORAKIT_MODEL", None)
    return env


def _roots(home: Path) -> dict[str, str]:
    """run id → status of its root span."""
    db = home / "traces.db"
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(db) as conn:
            return dict(conn.execute("SELECT run_id, status FROM spans WHERE parent_id IS NULL").fetchall())
    except sqlite3.OperationalError:  # the file is there, its tables not yet (the writer is creating them)
        return {}


def _default_sigint() -> None:
    # A test run started in the background of a non-interactive shell inherits SIGINT
    # ignored, and so would `agora` (Python keeps an inherited SIG_IGN): give it the
    # default back, as a terminal's Ctrl-C finds it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agorakit.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_default_sigint,  # no threads hold locks the child needs here
    )


def _wait_for_new_run(home: Path, before: set[str], proc: subprocess.Popen[str]) -> None:
    for _ in range(1200):
        if set(_roots(home)) - before or proc.poll() is not None:
            return
        time.sleep(0.05)


def _interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_twenty_interrupts_of_the_embedded_model_never_crash(model_cache: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home)
    rng = random.Random(9)
    commands = [
        RUN,
        ["bench", "--methods", "vanilla,cot", "--datasets", "gsm8k", "--limit", "10", "--max-tokens", "48",
         "--db", str(tmp_path / "bench.db")],
    ]  # fmt: skip
    cancelled = 0
    for i in range(INTERRUPTS):
        args = commands[i % 2]
        before = _roots(home)
        proc = _start(args, env)
        early = i % 4 < 2  # loading, or anywhere; otherwise during the run (prefill, decoding, between calls)
        if not early:
            _wait_for_new_run(home, set(before), proc)
        time.sleep(rng.uniform(0.3, 1.5) if early else rng.uniform(0.0, 2.5))
        code, err = _interrupt(proc)
        assert (i, code, err) == (i, 130, "interrupted\n")
        new = {run: status for run, status in _roots(home).items() if run not in before}
        if args is RUN:
            assert list(new.values()) in ([], ["cancelled"]) if early else list(new.values()) == ["cancelled"]
        else:
            # Samples finished before the Ctrl-C stay ok; the one in flight is cancelled.
            assert set(new.values()) <= {"ok", "cancelled"}
            assert early or "cancelled" in new.values()
        cancelled += list(new.values()).count("cancelled")
    assert cancelled >= INTERRUPTS // 2
    listing = subprocess.run(
        [sys.executable, "-m", "agorakit.cli.main", "trace", "list"], capture_output=True, text=True, env=env
    )
    assert "cancelled" in listing.stdout
    assert "unfinished" not in listing.stdout


def test_an_embedded_run_writes_no_engine_log_to_stderr(model_cache: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agorakit.cli.main", "run", "What is 2 + 2?", "--max-steps", "1", "--no-trace"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
    )
    assert done.returncode in (0, 3)
    assert done.stderr == ""


def test_debug_shows_the_engine_log(model_cache: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agorakit.cli.main", "--debug", "run", "What is 2 + 2?", "--max-steps", "1"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
    )
    assert "agorakit.llamacpp.engine: llama_kv_cache_iswa: using full-size SWA cache" in done.stderr


def test_an_interrupted_openai_run_is_cancelled_in_the_trace(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.default = delayed(60, completion("too late"))
    env = {**_env(tmp_path), "OPENAI_API_KEY": "test-key"}
    proc = _start(["run", "What is 17 * 23?", "--model", f"openai:fault-model@{fault_server.base_url}"], env)
    for _ in range(1200):
        if fault_server.count or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert fault_server.count == 1
    code, err = _interrupt(proc)
    assert (code, err) == (130, "interrupted\n")
    assert list(_roots(tmp_path).values()) == ["cancelled"]
