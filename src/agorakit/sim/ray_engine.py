"""Groups of agents on Ray actors: the same rounds as in process, spread over a cluster.

The driver keeps the world, as in process. The groups are dealt to
``workers`` actors (by default one per CPU of the cluster), in order, and each
actor steps its groups' agents through its own kernel and model. After every
step the driver keeps the memory of the agents it stepped (a checkpoint, plain
data); an actor that dies is replaced, given that memory, and asked the step
again, which gives the same actions, since replies depend only on the requests
(and the seed). The trace is one run, as in process: the driver writes the
simulation's, rounds' and workers' spans, and each actor writes its model
calls under its worker's span, to the same trace store on its node (the
driver's settings travel with it); a sink object (not a path) stays in the
driver, and the workers then count their calls without tracing them.

Ray is imported (by :mod:`agorakit.kernel.cluster`) only when a simulation asks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from agorakit.core.usage import Usage
from agorakit.kernel.cluster import ray_session
from agorakit.kernel.run import RunLedger
from agorakit.models.base import ChatModel
from agorakit.sim.group import AgentGroup, Step, Turn
from agorakit.sim.instant import sim_model
from agorakit.sim.scenario import Scenario
from agorakit.trace.setup import TraceOption, tracer_for
from agorakit.trace.tracer import Tracer

#: Times a round is asked again of a replaced actor before the simulation gives up.
RESTARTS = 3

#: Where an actor traces a round's calls: the trace option, the run, and the parent span's id.
WorkerTrace = tuple[TraceOption, str, str]


class GroupWorker:
    """An actor's state: some of the simulation's groups, with their model and kernel."""

    def __init__(
        self, scenario: Scenario[Any, Any], model: str | ChatModel, seed: int, memory: int, concurrency: int
    ) -> None:
        self.scenario = scenario
        self.model = sim_model(scenario, model, seed)
        self.memory = memory
        self.concurrency = concurrency
        self.groups: dict[int, AgentGroup] = {}
        self.tracer: Tracer | None = None

    def make(self) -> AgentGroup:
        return AgentGroup(self.scenario, self.model, memory=self.memory, concurrency=self.concurrency)

    async def step(self, turns: dict[int, list[Turn]], trace: WorkerTrace) -> tuple[dict[int, Step], dict[str, Any]]:
        """Every group's step (groups made as they first come), and the calls' usage.

        The calls are traced into ``trace``'s run, under its span (the driver's span for this
        worker's round)."""
        option, run_id, parent = trace
        if self.tracer is None or self.tracer.run_id != run_id:
            self.tracer = tracer_for(option, run_id)
        ledger = RunLedger.create(self.tracer)
        groups = {index: self.groups.setdefault(index, self.make()) for index in turns}
        with self.tracer.continued(parent):
            steps = await asyncio.gather(*(group.step(turns[index], ledger) for index, group in groups.items()))
        return dict(zip(turns, steps, strict=True)), dataclasses.asdict(ledger.usage)

    def flush(self) -> bool:
        """Write what this actor traced so far (the driver asks before the run ends)."""
        return self.tracer.flush(timeout=600.0) if self.tracer is not None else True

    def checkpoint(self, agents: dict[int, list[int]]) -> dict[int, dict[str, Any]]:
        """The memory of ``agents`` (by group): those whose turns a step just took."""
        return {index: self.groups[index].checkpoint(chosen) for index, chosen in agents.items()}

    def restore(self, state: dict[int, dict[str, Any]]) -> None:
        for index, kept in state.items():
            self.groups.setdefault(index, self.make()).restore(kept)


class Plan(Protocol):
    """What the actors need of a simulation (a :class:`~agorakit.sim.Simulation` is one)."""

    scenario: Scenario[Any, Any]
    model: str | ChatModel
    seed: int
    memory: int
    concurrency: int
    workers: int | None
    address: str | None
    trace: TraceOption


class RayGroups:
    """The simulation's groups dealt to actors, in order; one that dies is replaced from its last checkpoint."""

    def __init__(self, ray: Any, plan: Plan, groups: int) -> None:
        self.ray = ray
        self.plan = plan
        self.actor_class = ray.remote(num_cpus=0)(GroupWorker)  # memory-bound, not CPU-bound: pack freely
        workers = min(groups, plan.workers or max(1, int(ray.cluster_resources().get("CPU", 1))))
        per = -(-groups // workers)
        self.assigned = [list(range(w * per, min((w + 1) * per, groups))) for w in range(workers)]
        self.assigned = [indexes for indexes in self.assigned if indexes]
        self._worker_of = {index: worker for worker, indexes in enumerate(self.assigned) for index in indexes}
        self.actors = [self._new() for _ in self.assigned]
        #: Each worker's agents' memory, by group, as of their last turns (for a replacement).
        self.saved: list[dict[int, dict[str, Any]]] = [{} for _ in self.assigned]
        #: A replacement being given the saved memory: no step is sent to it before that is over.
        self.restoring: list[Any] = [None for _ in self.assigned]
        self.restarts = 0
        # The workers trace to the same store as the driver (a path travels; a sink object does not).
        self.trace = _for_workers(plan.trace)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, plan: Plan, groups: int) -> AsyncIterator[RayGroups]:
        """The actors, on the cluster at ``plan.address`` or on a local Ray started (and stopped) here."""
        with ray_session(plan.address) as ray:
            yield cls(ray, plan, groups)

    async def flush(self) -> None:
        """Every actor's trace written."""
        await asyncio.gather(*(actor.flush.remote() for actor in self.actors))

    def worker_of(self, group: int) -> int:
        """The worker (actor) that steps ``group``."""
        return self._worker_of[group]

    def _new(self) -> Any:
        plan = self.plan
        return self.actor_class.remote(plan.scenario, plan.model, plan.seed, plan.memory, plan.concurrency)

    async def step(self, turns: dict[int, list[Turn]], ledger: RunLedger) -> list[Step]:
        """Each group's step (in the order of ``turns``, which may hold only some of the groups)."""
        asked = [w for w, indexes in enumerate(self.assigned) if any(index in turns for index in indexes)]
        results = await asyncio.gather(*(self._step_worker(w, turns, ledger) for w in asked))
        steps = {index: step for found in results for index, step in found.items()}
        return [steps[index] for index in turns]

    async def _step_worker(self, worker: int, turns: dict[int, list[Turn]], ledger: RunLedger) -> dict[int, Step]:
        mine = {index: turns[index] for index in self.assigned[worker] if index in turns}
        agents = {index: [agent for agent, _ in asked] for index, asked in mine.items()}
        with ledger.tracer.span(f"worker {worker}", {"agorakit.sim.groups": len(mine)}) as span:
            for attempt in range(RESTARTS + 1):
                actor = self.actors[worker]
                try:
                    pending = self.restoring[worker]
                    if pending is not None:
                        await pending
                        if self.restoring[worker] is pending:
                            self.restoring[worker] = None
                    steps, usage = await actor.step.remote(mine, (self.trace, ledger.tracer.run_id, span.span_id))
                    kept = await actor.checkpoint.remote(agents) if self.plan.memory else None
                    break
                except self.ray.exceptions.RayActorError:
                    if attempt == RESTARTS:
                        raise
                    span.event("worker restarted", {"agorakit.sim.attempt": attempt + 1})
                    if self.actors[worker] is actor:  # the first step to find it dead replaces it
                        self.restarts += 1
                        self.actors[worker] = self._new()
                        self.restoring[worker] = self.actors[worker].restore.remote(self.saved[worker])
            span.set("agorakit.sim.calls", usage["calls"])
            ledger.usage.add(Usage(**usage))
            for index, state in (kept or {}).items():
                self.saved[worker].setdefault(index, {"remembered": {}})["remembered"].update(state["remembered"])
        return {index: steps[index] for index in mine}


def _for_workers(trace: TraceOption) -> TraceOption:
    """The driver's trace option as the workers can follow it: a path made absolute (their
    working folder is not ours), a sink object (which cannot travel) as no tracing."""
    if isinstance(trace, str | Path):
        return str(Path(trace).expanduser().resolve())
    return trace if trace is None or isinstance(trace, bool) else False
