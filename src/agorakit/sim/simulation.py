"""Running a scenario: rounds over groups of agents.

The driver keeps the world. In lockstep, each round it asks the scenario for
every agent's prompt, hands each group its agents' prompts, gathers the actions
(in agent order, however the groups finished), and applies them; with
``advance="ready"`` each agent's turn starts once the turns it waits for are
over (see :mod:`agorakit.sim.ready`). In process, the groups are objects in
this event loop; the Ray executor puts each on an actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from agorakit.core.ids import new_run_id
from agorakit.core.usage import Usage
from agorakit.kernel.run import RunLedger
from agorakit.models.base import ChatModel
from agorakit.models.uri import parse_model_uri
from agorakit.sim.group import AgentGroup, Step, Turn
from agorakit.sim.instant import INSTANT, sim_model
from agorakit.sim.ready import ReadyRounds, StepAll, require_ready
from agorakit.sim.scenario import Scenario
from agorakit.trace.run_span import traced_run
from agorakit.trace.setup import TraceOption, tracer_for

Progress = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class SimResult:
    scenario: str
    agents: int
    seed: int
    run_id: str
    #: One entry per round: the scenario's results, with ``round``, ``acted``, ``failed`` and ``seconds``.
    rounds: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    #: Workers that died and were replaced from their last checkpoint (Ray).
    restarts: int = 0

    @property
    def steps(self) -> int:
        """Agent-steps taken: every call an agent made, acted on or not."""
        return sum(r["acted"] + r["failed"] for r in self.rounds)


@dataclass(slots=True)
class Simulation:
    """``scenario`` for ``agents`` agents over ``rounds`` rounds.

    ``model`` is a model URI or object, or ``"instant"`` for the scenario's own
    seeded replies. Agents are packed ``group_size`` to a group; each group makes
    up to ``concurrency`` model calls at once and keeps each agent's last
    ``memory`` exchanges. ``trace`` is as for agents (on by default).
    """

    scenario: Scenario[Any, Any]
    agents: int
    rounds: int
    model: str | ChatModel = INSTANT
    seed: int = 0
    group_size: int = 1000
    concurrency: int = 1
    memory: int = 0
    trace: TraceOption = None
    #: ``"inprocess"``, or ``"ray"``: groups on Ray actors (``workers`` of them, by default one per
    #: CPU), on the cluster at ``address`` (``host:port``) or on a local one started for the run.
    engine: Literal["inprocess", "ray"] = "inprocess"
    address: str | None = None
    workers: int | None = None
    #: ``"lockstep"``: each round waits for the whole round before. ``"ready"``: an agent's turn
    #: waits only for its own and its inputs' turns in the round before (the scenario must say
    #: whom each agent hears from); the rounds' results are the same.
    advance: Literal["lockstep", "ready"] = "lockstep"

    def __post_init__(self) -> None:
        for label, value in (("agents", self.agents), ("rounds", self.rounds), ("group_size", self.group_size)):
            if value < 1:
                raise ValueError(f"{label} must be at least 1, got {value}")
        if self.engine not in ("inprocess", "ray"):
            raise ValueError(f"engine must be 'inprocess' or 'ray', got {self.engine!r}")
        if self.advance not in ("lockstep", "ready"):
            raise ValueError(f"advance must be 'lockstep' or 'ready', got {self.advance!r}")
        if self.advance == "ready":
            require_ready(self.scenario)
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if isinstance(self.model, str) and self.model != INSTANT:
            parse_model_uri(self.model)  # a mistyped URI fails here, before any round

    def groups(self) -> list[range]:
        """The agents of each group, in order."""
        return [
            range(first, min(first + self.group_size, self.agents)) for first in range(0, self.agents, self.group_size)
        ]

    async def run(self, *, progress: Progress | None = None, run_id: str | None = None) -> SimResult:
        """Every round, on the engine chosen; ``progress`` is called with each round's results as it ends."""
        if self.engine == "ray":
            from agorakit.sim.ray_engine import RayGroups

            async with RayGroups.open(self, len(self.groups())) as workers:
                result = await drive(
                    self, workers.step, progress=progress, run_id=run_id, flush=workers.flush, lane=workers.worker_of
                )
                result.restarts = workers.restarts
                return result
        model = sim_model(self.scenario, self.model, self.seed)
        groups = [
            AgentGroup(self.scenario, model, memory=self.memory, concurrency=self.concurrency) for _ in self.groups()
        ]

        async def step_all(turns: dict[int, list[Turn]], ledger: RunLedger) -> list[Step]:
            return await asyncio.gather(*(groups[index].step(asked, ledger) for index, asked in turns.items()))

        return await drive(self, step_all, progress=progress, run_id=run_id)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a round. A round makes millions of short-lived
    objects while the trace's records wait for its writer; collections then keep walking
    those, and took 43% of an instant round of 100,000 agents (18,037 against 31,789
    agent-steps/s). The round's garbage is collected when it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def lockstep(
    sim: Simulation, world: Any, step_all: StepAll, ledger: RunLedger, record: Callable[[dict[str, Any]], None]
) -> None:
    """Round after round, each stepping every group's agents at once, then applying their actions."""
    scenario, members = sim.scenario, sim.groups()
    for number in range(sim.rounds):
        began = time.perf_counter()
        with ledger.tracer.span(f"round {number}", {"agorakit.sim.round": number}) as span:
            turns: dict[int, list[Turn]] = {}
            for index, agents in enumerate(members):
                asked = ((agent, scenario.prompt(world, agent, number)) for agent in agents)
                turns[index] = [(agent, prompt) for agent, prompt in asked if prompt is not None]
            with collector_paused():
                steps = await step_all(turns, ledger)
            actions: dict[int, Any] = {}
            for step in steps:  # groups hold agents in order, so this is agent order
                actions.update(step.actions)
            failed = sum(step.failed for step in steps)
            report = {"round": number, **scenario.apply(world, actions, number)}
            report.update(acted=len(actions), failed=failed, seconds=round(time.perf_counter() - began, 4))
            span.set("agorakit.sim.acted", len(actions))
            span.set("agorakit.sim.failed", failed)
        gc.collect(0)  # the round's objects, all still young: its garbage is bounded by its steps, not its time
        record(report)


async def drive(
    sim: Simulation,
    step_all: StepAll,
    *,
    progress: Progress | None,
    run_id: str | None,
    flush: Callable[[], Awaitable[None]] | None = None,
    lane: Callable[[int], int] | None = None,
) -> SimResult:
    """The rounds of ``sim``, each group's turns stepped by ``step_all`` (in process, or on workers,
    whose traces ``flush`` writes before the run ends, and whose groups ``lane`` says)."""
    scenario = sim.scenario
    ledger = RunLedger.create(tracer_for(sim.trace, run_id or new_run_id()))
    result = SimResult(scenario.name, sim.agents, sim.seed, ledger.tracer.run_id)
    world = scenario.start(sim.agents, random.Random(sim.seed))
    started = time.perf_counter()
    attributes = {
        "agorakit.sim.scenario": scenario.name,
        "agorakit.sim.agents": sim.agents,
        "agorakit.sim.seed": sim.seed,
    }
    last = started

    def record(report: dict[str, Any]) -> None:
        nonlocal last
        now = time.perf_counter()
        report.setdefault("seconds", round(now - last, 4))  # ready: since the round before it ended
        last = now
        result.rounds.append(report)
        if progress is not None:
            progress(report)

    with traced_run(ledger.tracer, f"simulate {scenario.name}", attributes):
        if sim.advance == "ready":

            def record_ready(report: dict[str, Any]) -> None:  # no span of its own: rounds overlap
                counts = {"round": report["round"], "acted": report["acted"], "failed": report["failed"]}
                ledger.tracer.event("round over", {f"agorakit.sim.{key}": value for key, value in counts.items()})
                record(report)

            rounds = ReadyRounds(scenario, world, sim.agents, sim.rounds, sim.group_size, lane)
            await rounds.run(step_all, ledger, record_ready)
        else:
            await lockstep(sim, world, step_all, ledger, record)
        result.summary = scenario.summary(world)
    if flush is not None:
        await flush()
    ledger.tracer.flush(timeout=600.0)  # the run is over once its trace is written
    result.usage = ledger.usage
    result.seconds = time.perf_counter() - started
    return result
