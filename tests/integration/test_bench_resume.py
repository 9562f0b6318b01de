"""Acceptance: `agora bench` on the embedded model, killed with SIGKILL mid-run and restarted,
ends with exactly one row per sample and configuration, and keeps the rows it had."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LIMIT = 4


def finished_rows(db: Path) -> dict[str, tuple[str, str, float]]:
    """sample id -> (config hash, status, finished_at), read as another process would."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute("SELECT sample_id, config_hash, status, finished_at FROM results").fetchall()
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
    return {sample_id: (config_hash, status, finished_at) for sample_id, config_hash, status, finished_at in rows}


def test_bench_killed_and_restarted_has_one_row_per_sample_and_configuration(model_cache: Path, tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    command = [
        sys.executable, "-m", "agorakit.cli.main", "bench",
        "--methods", "vanilla", "--datasets", "gsm8k", "--limit", str(LIMIT),
        "--models", "llamacpp:gemma-3-270m", "--max-tokens", "24", "--db", str(db),
    ]  # fmt: skip
    env = {
        **os.environ,
        "AGORAKIT_HOME": str(tmp_path / "home"),
        "AGORAKIT_TRACE_DB": str(tmp_path / "traces.db"),
        "AGORAKIT_MODEL_CACHE": str(model_cache),  # the GGUF the session already assembled
        "NO_COLOR": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    env.pop("AGORAKIT_BENCH_DB", None)
    env.pop("AGORAKIT_MODEL", None)

    log = tmp_path / "first-run.log"
    with log.open("wb") as output:  # a file, not a pipe: a full pipe would stall the run
        first = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while not finished_rows(db):
            if first.poll() is not None:
                pytest.fail(f"bench exited with {first.returncode} before writing a row:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail("bench wrote no row in 600 s")
            time.sleep(0.05)
        first.kill()  # SIGKILL: no cleanup, no atexit
    finally:
        if first.poll() is None:
            first.kill()
        first.wait(timeout=60)
    assert first.returncode == -9
    before = finished_rows(db)
    assert 1 <= len(before) < LIMIT, "the kill came after the run had finished: nothing was resumed"

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{LIMIT - len(before)} sample(s) run now" in second.stdout
    assert f"{len(before)} already done" in second.stdout

    after = finished_rows(db)
    assert len(after) == LIMIT  # distinct sample ids: the primary key holds one configuration
    assert len({config_hash for config_hash, _, _ in after.values()}) == 1
    assert {status for _, status, _ in after.values()} == {"ok"}
    assert {sample_id: after[sample_id] for sample_id in before} == before  # not rewritten
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM results").fetchone()
    assert count == LIMIT
