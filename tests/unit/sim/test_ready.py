"""Rounds that advance as soon as their inputs are ready: the rounds lockstep gives, without
waiting for turns an agent does not hear from."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agorakit import ScriptedModel
from agorakit.core.errors import ConfigError
from agorakit.models.base import ModelRequest
from agorakit.models.scripted import Delay
from agorakit.sim import Scenario, Simulation
from agorakit.sim.instant import instant_model
from agorakit.sim.scenarios import GuessTwoThirds, MessageSpread


def without_timing(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rounds]


@pytest.mark.parametrize(("group_size", "concurrency"), [(1000, 1), (37, 4), (1, 1)])
async def test_a_message_spreads_round_by_round_as_in_lockstep(group_size: int, concurrency: int) -> None:
    settings: dict[str, Any] = {"agents": 1500, "rounds": 8, "seed": 5, "trace": False}
    scenario = MessageSpread(follows=4, share_chance=0.6)
    lockstep = await Simulation(scenario, **settings).run()
    ready = await Simulation(
        scenario, advance="ready", group_size=group_size, concurrency=concurrency, **settings
    ).run()
    assert without_timing(ready.rounds) == without_timing(lockstep.rounds)
    assert ready.summary == lockstep.summary and ready.usage.calls == lockstep.usage.calls == lockstep.steps
    assert sum(row["asked"] for row in lockstep.rounds) > 300  # it did spread: many decided


async def test_the_same_rounds_when_replies_arrive_in_a_shuffled_order() -> None:
    """Calls that take random times finish in another order than they started; the world
    comes out the same (earliest round, then lowest sharer, is whom a user saw it from)."""
    scenario = MessageSpread(follows=3, share_chance=0.5)
    instant = await Simulation(scenario, agents=400, rounds=5, seed=2, trace=False).run()
    replies = instant_model(scenario, 2)
    jitter = random.Random(0)
    late = ScriptedModel(lambda request: Delay(jitter.random() * 0.004, replies._next_item(request)))
    shuffled = Simulation(
        scenario, agents=400, rounds=5, seed=2, model=late, advance="ready", group_size=1, trace=False
    )
    assert without_timing((await shuffled.run()).rounds) == without_timing(instant.rounds)


@dataclass
class Log:
    """What happened, in order: ("asked" | "over", agent, round)."""

    agents: int
    ring: bool
    events: list[tuple[str, int, int]] = field(default_factory=list)


class Relay(Scenario[Log, int]):
    """Agents in a ring, each hearing from the one before it (``ring``) or from no one."""

    name = "relay"
    instructions = "Say a number."

    def __init__(self, ring: bool) -> None:
        self.ring = ring

    def start(self, agents: int, rng: random.Random) -> Log:
        return Log(agents, self.ring)

    def prompt(self, world: Log, agent: int, round_index: int) -> str:
        world.events.append(("asked", agent, round_index))
        return f"agent {agent} round {round_index}"

    def act(self, agent: int, reply: str) -> int | None:
        return int(reply) if reply.isdigit() else None

    def inputs(self, world: Log, agent: int) -> list[int]:
        return [(agent - 1) % world.agents] if world.ring else []

    def deliver(self, world: Log, agent: int, action: int, round_index: int) -> None:
        world.events.append(("over", agent, round_index))

    def report(self, world: Log, round_index: int) -> dict[str, Any]:
        return {"delivered": sum(1 for kind, _, r in world.events if kind == "over" and r == round_index)}

    def instant(self, prompt: str, rng: random.Random) -> str:
        return "1"


async def test_an_agent_runs_rounds_ahead_while_one_it_does_not_hear_from_is_still_answering() -> None:
    """Agent 0's first call waits until agent 1 has been asked its last round: that can only
    happen if agent 1 does not wait for agent 0 (in lockstep the run would never end)."""
    last_round_asked = asyncio.Event()

    def reply(request: ModelRequest) -> Any:
        prompt = request.messages[-1].content
        if prompt == "agent 1 round 2":
            last_round_asked.set()
        return Delay(1.0, "1") if prompt == "agent 0 round 0" else "1"

    async def sleep(seconds: float) -> None:  # the gated call's delay lasts until agent 1 is that far
        await asyncio.wait_for(last_round_asked.wait(), timeout=10)

    model = ScriptedModel(reply, sleep=sleep)
    sim = Simulation(Relay(ring=False), agents=2, rounds=3, model=model, advance="ready", group_size=1, trace=False)
    reports: list[dict[str, Any]] = []
    result = await sim.run(progress=reports.append)
    assert [(row["round"], row["acted"], row["delivered"]) for row in reports] == [(0, 2, 2), (1, 2, 2), (2, 2, 2)]
    assert result.rounds == reports


async def test_an_agent_is_asked_a_round_only_once_the_one_it_hears_from_is_over_the_round_before() -> None:
    worlds: list[Log] = []
    scenario = Relay(ring=True)
    start = scenario.start
    scenario.start = lambda agents, rng: worlds.append(start(agents, rng)) or worlds[-1]  # type: ignore[method-assign]
    await Simulation(scenario, agents=5, rounds=4, advance="ready", group_size=1, concurrency=1, trace=False).run()
    events = worlds[0].events
    asked = [(agent, r) for kind, agent, r in events if kind == "asked"]
    assert sorted(asked) == [(agent, r) for agent in range(5) for r in range(4)]
    for agent, r in asked:
        if r:
            assert events.index(("over", (agent - 1) % 5, r - 1)) < events.index(("asked", agent, r))
            assert events.index(("over", agent, r - 1)) < events.index(("asked", agent, r))


def test_a_scenario_that_only_applies_whole_rounds_is_refused_for_ready() -> None:
    with pytest.raises(ConfigError, match="'guess-two-thirds' advances in lockstep only") as raised:
        Simulation(GuessTwoThirds(), agents=10, rounds=2, advance="ready")
    assert "inputs, deliver and report" in raised.value.hint
    with pytest.raises(ValueError, match="advance must be 'lockstep' or 'ready'"):
        Simulation(MessageSpread(), agents=10, rounds=2, advance="soon")  # type: ignore[arg-type]


async def test_the_trace_holds_each_batch_of_turns_and_each_round_as_it_ends(tmp_path: Path) -> None:
    from agorakit.trace.store import open_store

    store = open_store(tmp_path / "traces.db")
    try:
        sim = Simulation(MessageSpread(follows=3, share_chance=1.0), agents=60, rounds=3, advance="ready", trace=store)
        result = await sim.run()
        store.flush()
        spans = store._conn.execute(
            "SELECT span_id, parent_id, name FROM spans WHERE run_id = ?", (result.run_id,)
        ).fetchall()
        events = store._conn.execute(
            "SELECT name, attributes FROM events WHERE run_id = ? AND name = 'round over'", (result.run_id,)
        ).fetchall()
    finally:
        store.close()
    by_id = {span_id: (parent, name) for span_id, parent, name in spans}
    calls = [name for parent, name in by_id.values() if parent is not None and by_id[parent][1] == "turns"]
    assert len(calls) == result.usage.calls == sum(row["asked"] for row in result.rounds) > 0
    assert len(events) == 3 and all('"agorakit.sim.round"' in attributes for _, attributes in events)


def test_a_scenario_that_neither_applies_nor_delivers_cannot_be_made() -> None:
    class Silent(Scenario[Log, int]):
        name = "silent"
        instructions = "Say a number."

        def start(self, agents: int, rng: random.Random) -> Log:
            return Log(agents, False)

        def prompt(self, world: Log, agent: int, round_index: int) -> str:
            return "?"

        def act(self, agent: int, reply: str) -> int | None:
            return 1

        def instant(self, prompt: str, rng: random.Random) -> str:
            return "1"

    with pytest.raises(TypeError, match="Silent must define apply, or deliver and report, to change its world"):
        Silent()

    class OnlyDelivers(Silent):
        def deliver(self, world: Log, agent: int, action: int, round_index: int) -> None:
            pass

    with pytest.raises(TypeError, match="OnlyDelivers must define apply, or deliver and report"):
        OnlyDelivers()
    assert isinstance(Relay(ring=True), Relay)
