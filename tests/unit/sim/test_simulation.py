"""Simulations in process: rounds, groups, determinism, failures, memory and the trace."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ContextWindowExceeded
from agorakit.kernel.run import RunLedger
from agorakit.models.base import ModelRequest
from agorakit.sim import AgentGroup, Simulation
from agorakit.sim.scenarios import GuessTwoThirds, MessageSpread


def without_timing(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rounds]


def test_the_round_winner_is_closest_to_two_thirds_of_the_average() -> None:
    scenario = GuessTwoThirds()
    world = scenario.start(3, random.Random(0))
    report = scenario.apply(world, {0: 10.0, 1: 50.0, 2: 90.0}, 0)
    assert report["average"] == 50.0 and report["target"] == pytest.approx(33.333333)
    assert report["winner"] == 1 and report["winning_guess"] == 50.0
    assert "Last round's average was 50.00" in scenario.prompt(world, 2, 1)


def test_replies_become_guesses_only_within_the_rules() -> None:
    act = GuessTwoThirds().act
    assert act(0, '{"guess": 42.5}') == 42.5
    assert act(0, "I would say 17 this time") == 17.0
    assert act(0, '{"guess": 140}') is None
    assert act(0, '{"guess": true}') is None
    assert act(0, "no idea") is None


async def test_instant_players_bring_the_average_down_by_about_a_third_each_round() -> None:
    result = await Simulation(GuessTwoThirds(), agents=300, rounds=4, trace=False).run()
    averages = result.summary["averages"]
    assert 40 < averages[0] < 60  # uniform guesses in the first round
    for before, after in itertools.pairwise(averages):
        assert after == pytest.approx(before * 2 / 3, rel=0.05)
    assert [row["acted"] for row in result.rounds] == [300] * 4 and result.steps == 1200
    assert result.usage.calls == 1200


async def test_the_same_seed_gives_the_same_rounds_whatever_the_groups_and_concurrency() -> None:
    async def rounds(**kwargs: Any) -> list[dict[str, Any]]:
        result = await Simulation(GuessTwoThirds(), agents=250, rounds=3, seed=7, trace=False, **kwargs).run()
        return without_timing(result.rounds)

    one_group = await rounds(group_size=1000)
    assert await rounds(group_size=7, concurrency=5) == one_group
    assert await rounds(group_size=64, concurrency=1) == one_group
    other_seed = await Simulation(GuessTwoThirds(), agents=250, rounds=3, seed=8, trace=False).run()
    assert without_timing(other_seed.rounds) != one_group


def reached(world_followers: list[list[int]], depth: int) -> set[int]:
    """Who a message shared by everyone reaches from user 0 within ``depth`` hops (a plain BFS)."""
    seen, frontier = {0}, [0]
    for _ in range(depth):
        frontier = [f for user in frontier for f in world_followers[user] if f not in seen]
        seen.update(frontier)
    return seen


async def test_a_message_everyone_shares_reaches_each_hop_of_the_follow_graph_one_round_after_the_last() -> None:
    scenario = MessageSpread(follows=3, share_chance=1.0)
    followers = scenario.start(400, random.Random(3)).followers
    result = await Simulation(scenario, agents=400, rounds=4, seed=3, trace=False).run()
    for row in result.rounds:
        assert row["seen"] == len(reached(followers, row["round"] + 2))
        assert row["shared"] == row["asked"]  # everyone asked shares


async def test_a_message_nobody_shares_reaches_only_the_posters_followers() -> None:
    scenario = MessageSpread(follows=3, share_chance=0.0)
    followers = scenario.start(400, random.Random(3)).followers
    result = await Simulation(scenario, agents=400, rounds=3, seed=3, trace=False).run()
    assert result.summary == {"seen": 1 + len(set(followers[0])), "shared": 1, "users": 400}
    assert [row["asked"] for row in result.rounds] == [len(followers[0]), 0, 0]


async def test_agents_whose_call_fails_or_whose_reply_is_unusable_sit_the_round_out() -> None:
    def reply(request: ModelRequest) -> Any:
        prompt = request.messages[-1].content or ""
        if "player 1 " in prompt:
            return ContextWindowExceeded("scripted: the prompt is too long")
        return "I pass" if "player 2 " in prompt else '{"guess": 30}'

    sim = Simulation(GuessTwoThirds(), agents=4, rounds=2, model=ScriptedModel(reply), trace=False)
    result = await sim.run()
    assert [(row["acted"], row["failed"]) for row in result.rounds] == [(2, 2), (2, 2)]
    assert result.rounds[0]["average"] == 30.0


async def test_an_agent_with_memory_is_shown_its_last_exchanges() -> None:
    model = ScriptedModel(lambda request: '{"guess": 20}')
    group = AgentGroup(GuessTwoThirds(), model, memory=1)
    ledger = RunLedger.create()
    for round_index in range(3):
        await group.step([(5, f"round {round_index}")], ledger)
    shown = [[m.content for m in request.messages[1:]] for request in model.requests]
    assert shown == [
        ["round 0"],
        ["round 0", '{"guess": 20}', "round 1"],
        ["round 1", '{"guess": 20}', "round 2"],
    ]
    copy = AgentGroup(GuessTwoThirds(), model, memory=1)
    copy.restore(json.loads(json.dumps(group.checkpoint())))
    assert copy.remembered == {5: [("round 2", '{"guess": 20}')]}


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="agents must be at least 1"):
        Simulation(GuessTwoThirds(), agents=0, rounds=1)
    with pytest.raises(ValueError, match="concurrency >= 1"):
        AgentGroup(GuessTwoThirds(), ScriptedModel([]), concurrency=0)


async def test_the_trace_holds_the_simulation_its_rounds_and_every_call(tmp_path: Path) -> None:
    from agorakit.trace.store import open_store

    store = open_store(tmp_path / "traces.db")
    try:
        result = await Simulation(GuessTwoThirds(), agents=20, rounds=2, trace=store).run()
        store.flush()
        rows = store._conn.execute(
            "SELECT span_id, parent_id, name FROM spans WHERE run_id = ?", (result.run_id,)
        ).fetchall()
    finally:
        store.close()
    by_id = {span_id: (parent, name) for span_id, parent, name in rows}
    roots = [s for s, (parent, name) in by_id.items() if parent is None]
    assert [by_id[s][1] for s in roots] == ["simulate guess-two-thirds"]
    rounds = sorted(name for parent, name in by_id.values() if parent == roots[0])
    assert rounds == ["round 0", "round 1"]
    calls = [name for parent, name in by_id.values() if parent is not None and by_id[parent][1].startswith("round")]
    assert len(calls) == 40 and set(calls) == {"chat instant-guess-two-thirds"}


def test_an_interrupted_loop_leaves_no_running_simulation() -> None:
    async def cut_short() -> None:
        task = asyncio.ensure_future(Simulation(GuessTwoThirds(), agents=50_000, rounds=50, trace=False).run())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cut_short())


async def test_the_ray_engine_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from agorakit.core.errors import ConfigError

    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray gives an import
    with pytest.raises(ConfigError, match="needs Ray") as caught:
        await Simulation(GuessTwoThirds(), agents=10, rounds=1, engine="ray", trace=False).run()
    assert "pip install 'agorakit[ray]'" in (caught.value.hint or "")


def test_importing_agorakit_and_its_simulations_does_not_load_ray() -> None:
    import subprocess
    import sys

    code = "import sys, agorakit, agorakit.sim, agorakit.sim.scenarios; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
