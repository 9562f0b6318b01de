"""The benchmark grid on Ray: a real two-node cluster on this machine (ray.cluster_utils.Cluster)
gives the rows the process gives, and `agora bench --engine ray` killed with SIGKILL at random
moments, then run again, ends with exactly one row per key, each traced."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agorakit.eval.grid import GridSpec
from agorakit.eval.results import ResultsStore
from agorakit.eval.runner import run_grid
from agorakit.eval.sample import Sample
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import Delay, ScriptedModel, ScriptItem

ray = pytest.importorskip("ray", reason="Ray is an extra: pip install 'agorakit[ray]'")

SAMPLES = [Sample("toy", f"q{i}", f"What is {i} + {i % 7}?", str(i + i % 7), "number") for i in range(40)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    try:
        yield nodes
    finally:
        nodes.shutdown()  # type: ignore[no-untyped-call]


def sums(request: ModelRequest) -> ScriptItem:
    """The sum asked for, wrong for every fifth question; after a short wait, as a model takes."""
    first, second = map(int, re.findall(r"\d+", request.messages[-1].content or "")[:2])
    answer = first + second + (1 if first % 5 == 0 else 0)
    return Delay(0.01, f"The answer is {answer}.")


def comparable(store: ResultsStore) -> list[tuple[Any, ...]]:
    rows = sorted(store.rows(), key=lambda row: row.key.sample_id)
    return [(r.key, r.config, r.status, r.prediction, r.correct, r.calls, r.input_tokens) for r in rows]


async def test_two_ray_nodes_write_the_rows_the_process_writes(cluster: Any, tmp_path: Path) -> None:
    import ray.cloudpickle

    # The responder travels to the workers by value: they cannot import a test module.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        grids = {}
        for engine in ("inprocess", "ray"):
            spec = GridSpec(
                methods=[("vanilla", {})], datasets=["toy"], models=["scripted:sums"], trace=False, engine=engine
            )
            with ResultsStore(tmp_path / f"{engine}.db") as store:
                model = ScriptedModel(sums, name="sums", record=False)
                outcome = await run_grid(spec, store, backends={"scripted:sums": model}, samples={"toy": SAMPLES})
                grids[engine] = comparable(store)
            assert (outcome.done, outcome.errors, outcome.correct) == (40, 0, 32)
    finally:
        ray.shutdown()
    assert grids["ray"] == grids["inprocess"]


# --- the driver killed with SIGKILL ---------------------------------------------------------

LIMIT = 36


def bench_command(tmp_path: Path, address: str) -> list[str]:
    dataset = tmp_path / "sums.jsonl"
    records = ({"id": s.id, "q": s.question, "a": s.answer} for s in SAMPLES[:LIMIT])
    dataset.write_text("".join(json.dumps(record) + "\n" for record in records))
    script = tmp_path / "model.yaml"  # every worker loads its own copy: enough answers for all the samples
    script.write_text(yaml.safe_dump([{"text": "The answer is 7.", "delay": 0.3}] * LIMIT))
    return [
        sys.executable, "-m", "agorakit.cli.main", "bench", "--methods", "vanilla",
        "--datasets", f"{dataset}?question=q&answer=a&kind=number", "--models", f"scripted:{script}",
        "--db", str(tmp_path / "bench.db"), "--engine", "ray", "--address", address, "--workers", "3",
    ]  # fmt: skip


def stored(db: Path) -> dict[str, tuple[str, str, float]]:
    """sample id -> (status, run id, finished_at), read as another process would."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute("SELECT sample_id, status, run_id, finished_at FROM results").fetchall()
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
    return {sample_id: (status, run_id, finished) for sample_id, status, run_id, finished in rows}


def test_bench_on_ray_killed_at_random_moments_ends_with_one_traced_row_per_key(cluster: Any, tmp_path: Path) -> None:
    command = bench_command(tmp_path, cluster.address)
    db = tmp_path / "bench.db"
    env = {**os.environ, "AGORAKIT_HOME": str(tmp_path / "home"), "AGORAKIT_TRACE_DB": str(tmp_path / "traces.db")}
    env |= {"NO_COLOR": "1"}
    for name in ("AGORAKIT_BENCH_DB", "AGORAKIT_MODEL", "AGORAKIT_TRACE"):
        env.pop(name, None)
    chooser = random.Random(2026)
    kept: dict[str, tuple[str, str, float]] = {}
    for attempt in range(3):
        log = tmp_path / f"run-{attempt}.log"
        with log.open("wb") as output:  # a file, not a pipe: a full pipe would stall the run
            driver = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            wanted = len(kept) + chooser.randint(1, 3)  # a few more rows, then a random moment
            while len(stored(db)) < wanted:
                if driver.poll() is not None:
                    pytest.fail(f"bench exited with {driver.returncode}:\n{log.read_text()}")
                assert time.monotonic() < deadline, f"no new row in 120 s:\n{log.read_text()}"
                time.sleep(0.02)
            time.sleep(chooser.uniform(0, 0.25))
            driver.send_signal(signal.SIGKILL)  # no cleanup, no atexit
        finally:
            if driver.poll() is None:
                driver.kill()
            driver.wait(timeout=60)
        rows = stored(db)
        assert len(rows) < LIMIT, "the kill came after the run had finished"
        assert {sample_id: rows[sample_id] for sample_id in kept} == kept  # earlier rows are never rewritten
        kept = rows

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    assert f"{LIMIT - len(kept)} sample(s) run now (0 error(s)), {len(kept)} already done" in final.stdout
    rows = stored(db)
    assert sorted(rows) == sorted(s.id for s in SAMPLES[:LIMIT])  # the primary key: one row per key
    assert {status for status, _, _ in rows.values()} == {"ok"}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM results").fetchone() == (LIMIT,)
    with sqlite3.connect(tmp_path / "traces.db") as conn:  # written by the workers, flushed before each row
        traced = {run_id for (run_id,) in conn.execute("SELECT DISTINCT run_id FROM spans")}
    assert {run_id for _, run_id, _ in rows.values()} <= traced
