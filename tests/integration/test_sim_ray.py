"""Simulations on Ray: a real two-node cluster on this machine (ray.cluster_utils.Cluster),
the same rounds as in process, and a worker killed with SIGKILL mid-run."""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agorakit.sim import Simulation
from agorakit.sim.scenarios import GuessTwoThirds, MessageSpread

ray = pytest.importorskip("ray", reason="Ray is an extra: pip install 'agorakit[ray]'")
if os.environ.get("CI") and ray is None:  # pragma: no cover - scripts/setup installs it
    pytest.fail("CI must have Ray installed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, log_to_driver=False, configure_logging=False)
    try:
        yield nodes
    finally:
        ray.shutdown()
        nodes.shutdown()  # type: ignore[no-untyped-call]


def without_timing(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rounds]


@pytest.mark.parametrize(
    "scenario", [GuessTwoThirds(), MessageSpread(follows=4, share_chance=0.5)], ids=["guess", "spread"]
)
async def test_two_ray_nodes_give_the_rounds_the_process_gives(cluster: Any, scenario: Any) -> None:
    settings: dict[str, Any] = {"agents": 3000, "rounds": 4, "seed": 11, "group_size": 250, "memory": 1, "trace": False}
    here = await Simulation(scenario, **settings).run()
    there = await Simulation(scenario, engine="ray", workers=4, **settings).run()
    assert without_timing(there.rounds) == without_timing(here.rounds)
    assert there.summary == here.summary and there.usage.calls == here.usage.calls == here.steps


async def test_on_ray_rounds_that_advance_as_inputs_are_ready_give_the_lockstep_rounds(cluster: Any) -> None:
    scenario = MessageSpread(follows=4, share_chance=0.6)
    settings: dict[str, Any] = {"agents": 3000, "rounds": 6, "seed": 4, "group_size": 100, "memory": 1, "trace": False}
    here = await Simulation(scenario, **settings).run()
    there = await Simulation(scenario, engine="ray", workers=3, advance="ready", **settings).run()
    assert without_timing(there.rounds) == without_timing(here.rounds)
    assert there.summary == here.summary and there.usage.calls == here.usage.calls == here.steps > 100


def group_workers() -> list[int]:
    """The pids of the live GroupWorker actor processes on this machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::GroupWorker"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.parametrize(
    ("scenario", "rounds", "advance"),
    [(GuessTwoThirds(), 5, "lockstep"), (MessageSpread(follows=4, share_chance=0.8), 8, "ready")],
    ids=["lockstep", "ready"],
)
async def test_a_worker_killed_mid_run_is_replaced_from_its_checkpoint_and_the_results_hold(
    cluster: Any, scenario: Any, rounds: int, advance: Any
) -> None:
    settings: dict[str, Any] = {"agents": 20_000, "rounds": rounds, "seed": 5, "group_size": 1000, "memory": 1}
    settings["trace"] = False
    expected = without_timing((await Simulation(scenario, **settings).run()).rounds)
    chooser = random.Random(2026)
    restarts = 0
    for _ in range(3):  # at random moments: after a random round ends, a random fraction of a second later
        killed: list[int] = []
        kill_after = chooser.randint(1, rounds - 3)

        def kill_one(delay: float, killed: list[int] = killed) -> None:
            time.sleep(delay)
            pids = group_workers()
            if pids:
                victim = chooser.choice(pids)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        killers: list[threading.Thread] = []

        def on_round(
            report: dict[str, Any], after: int = kill_after, killers: list[threading.Thread] = killers
        ) -> None:
            if report["round"] == after:
                killers.append(threading.Thread(target=kill_one, args=(chooser.uniform(0.0, 0.2),), daemon=True))
                killers[-1].start()

        result = await Simulation(scenario, engine="ray", workers=3, advance=advance, **settings).run(progress=on_round)
        for killer in killers:
            killer.join(timeout=10)
        assert killed, "no worker was killed"
        assert without_timing(result.rounds) == expected
        restarts += result.restarts
    assert restarts >= 1, "no kill landed while a round was asked of the worker"


async def test_a_cluster_address_that_does_not_answer_is_a_clear_error_soon() -> None:
    from agorakit.core.errors import ConfigError

    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"no Ray cluster answers at 127\.0\.0\.1:1"):
        await Simulation(GuessTwoThirds(), agents=10, rounds=1, engine="ray", address="127.0.0.1:1").run()
    assert time.monotonic() - started < 15


def span_tree(path: Path) -> list[tuple[str, str | None, int]]:
    """(span name, parent's name, count), worker numbers left out: how a run's spans nest."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT s.name, p.name, COUNT(*), COUNT(DISTINCT s.run_id) FROM spans s"
            " LEFT JOIN spans p ON s.parent_id = p.span_id GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    assert all(runs == 1 for *_, runs in rows)
    merged: dict[tuple[str, str | None], int] = {}
    for name, parent, count, _ in rows:
        key = (re.sub(r"^worker \d+$", "worker", name), parent and re.sub(r"^worker \d+$", "worker", parent))
        merged[key] = merged.get(key, 0) + count
    return sorted((name, parent, count) for (name, parent), count in merged.items())


async def test_on_ray_every_call_is_traced_in_the_run_under_its_workers_round(cluster: Any, tmp_path: Path) -> None:
    settings: dict[str, Any] = {"agents": 600, "rounds": 2, "seed": 3, "group_size": 100}
    await Simulation(GuessTwoThirds(), trace=tmp_path / "here.db", **settings).run()
    result = await Simulation(GuessTwoThirds(), engine="ray", workers=2, trace=tmp_path / "there.db", **settings).run()
    call = "chat instant-guess-two-thirds"
    assert span_tree(tmp_path / "here.db") == [
        (call, "round 0", 600),
        (call, "round 1", 600),
        ("round 0", "simulate guess-two-thirds", 1),
        ("round 1", "simulate guess-two-thirds", 1),
        ("simulate guess-two-thirds", None, 1),
    ]
    assert span_tree(tmp_path / "there.db") == [
        (call, "worker", 1200),  # the actors' calls, written by them before the run ended
        ("round 0", "simulate guess-two-thirds", 1),
        ("round 1", "simulate guess-two-thirds", 1),
        ("simulate guess-two-thirds", None, 1),
        ("worker", "round 0", 2),
        ("worker", "round 1", 2),
    ]
    assert result.usage.calls == 1200
