"""Groups of agents on Ray actors: the same rounds as in process, spread over a cluster.

The driver keeps the world and the trace, as in process. The groups are dealt
to ``workers`` actors (by default one per CPU of the cluster), in order, and
each actor steps its groups' agents through its own kernel and model. After
every round the driver keeps each actor's checkpoint (its agents' memory); an
actor that dies is replaced from that checkpoint and the round asked of it
again, which gives the same actions, since replies depend only on the requests
(and the seed). On workers the model calls are counted, not traced: the trace
has one span per actor and round, with its calls.

Ray is imported only here, only when a simulation asks for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agorakit.core.errors import ConfigError
from agorakit.core.usage import Usage
from agorakit.kernel.run import RunLedger
from agorakit.models.base import ChatModel
from agorakit.models.uri import resolve_model
from agorakit.sim.group import AgentGroup, Step, Turn
from agorakit.sim.instant import instant_model
from agorakit.sim.scenario import Scenario
from agorakit.trace.setup import tracer_for

if TYPE_CHECKING:
    from agorakit.sim.simulation import Progress, SimResult, Simulation

#: Times a round is asked again of a replaced actor before the simulation gives up.
RESTARTS = 3
#: Seconds to wait for a cluster address to answer.
CONNECT_TIMEOUT_S = 10.0


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the Ray engine needs Ray, which is not installed",
            hint="pip install 'agorakit[ray]' (scripts/setup installs it)",
        ) from None
    return ray


class GroupWorker:
    """An actor's state: some of the simulation's groups, with their model and kernel."""

    def __init__(
        self, scenario: Scenario[Any, Any], model: str | ChatModel, seed: int, memory: int, concurrency: int
    ) -> None:
        from agorakit.sim.simulation import INSTANT

        self.scenario = scenario
        self.model = instant_model(scenario, seed) if model == INSTANT else resolve_model(model)
        self.memory = memory
        self.concurrency = concurrency
        self.groups: dict[int, AgentGroup] = {}

    def make(self) -> AgentGroup:
        return AgentGroup(self.scenario, self.model, memory=self.memory, concurrency=self.concurrency)

    async def step(self, turns: dict[int, list[Turn]]) -> tuple[dict[int, Step], dict[str, Any]]:
        """Every group's step (groups made as they first come), and the calls' usage."""
        ledger = RunLedger.create(tracer_for(False))
        groups = {index: self.groups.setdefault(index, self.make()) for index in turns}
        steps = await asyncio.gather(*(group.step(turns[index], ledger) for index, group in groups.items()))
        return dict(zip(turns, steps, strict=True)), dataclasses.asdict(ledger.usage)

    def checkpoint(self) -> dict[int, dict[str, Any]]:
        return {index: group.checkpoint() for index, group in self.groups.items()}

    def restore(self, state: dict[int, dict[str, Any]]) -> None:
        for index, kept in state.items():
            self.groups.setdefault(index, self.make()).restore(kept)


async def run_on_ray(sim: Simulation, *, progress: Progress | None, run_id: str | None) -> SimResult:
    from agorakit.sim.simulation import drive

    ray = require_ray()
    if sim.address is not None:
        probe(sim.address)  # even when this process is connected already: to fail as the user expects
    started_here = not ray.is_initialized()
    if started_here:
        connect(ray, sim.address)
    try:
        pool = WorkerPool(ray, sim)

        async def step_all(turns: dict[int, list[Turn]], ledger: RunLedger) -> list[Step]:
            return await pool.step(turns, ledger)

        result = await drive(sim, step_all, progress=progress, run_id=run_id)
        result.restarts = pool.restarts
        return result
    finally:
        if started_here:
            ray.shutdown()


def probe(address: str) -> None:
    """Fail at once, with what to do, if nothing listens at a ``host:port`` address."""
    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError):
        raise ConfigError(
            f"no Ray cluster answers at {address}",
            hint="start one with `ray start --head` and pass the address it prints (host:6379)",
        ) from None


def connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address``, or start a local one for this run."""
    if address is None:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)


class WorkerPool:
    """The actors and which groups each holds; replaces one that dies, from its last checkpoint."""

    def __init__(self, ray: Any, sim: Simulation) -> None:
        self.ray = ray
        self.sim = sim
        self.actor_class = ray.remote(num_cpus=0)(GroupWorker)  # memory-bound, not CPU-bound: pack freely
        groups = len(sim.groups())
        workers = min(groups, sim.workers or max(1, int(ray.cluster_resources().get("CPU", 1))))
        per = -(-groups // workers)
        self.assigned: list[list[int]] = [list(range(w * per, min((w + 1) * per, groups))) for w in range(workers)]
        self.assigned = [indexes for indexes in self.assigned if indexes]
        self.actors = [self._new() for _ in self.assigned]
        self.saved: list[dict[int, dict[str, Any]]] = [{} for _ in self.assigned]
        self.restarts = 0

    def _new(self) -> Any:
        sim = self.sim
        return self.actor_class.remote(sim.scenario, sim.model, sim.seed, sim.memory, sim.concurrency)

    async def step(self, turns: dict[int, list[Turn]], ledger: RunLedger) -> list[Step]:
        results = await asyncio.gather(*(self._step_worker(w, turns, ledger) for w in range(len(self.actors))))
        return [step for steps in results for step in steps]

    async def _step_worker(self, worker: int, turns: dict[int, list[Turn]], ledger: RunLedger) -> Sequence[Step]:
        mine = {index: turns[index] for index in self.assigned[worker]}
        with ledger.tracer.span(f"worker {worker}", {"agorakit.sim.groups": len(mine)}) as span:
            for attempt in range(RESTARTS + 1):
                try:
                    steps, usage = await self.actors[worker].step.remote(mine)
                    break
                except self.ray.exceptions.RayActorError:
                    if attempt == RESTARTS:
                        raise
                    span.event("worker restarted", {"agorakit.sim.attempt": attempt + 1})
                    self.restarts += 1
                    self.actors[worker] = self._new()
                    if self.saved[worker]:
                        await self.actors[worker].restore.remote(self.saved[worker])
            span.set("agorakit.sim.calls", usage["calls"])
            ledger.usage.add(Usage(**usage))
            if self.sim.memory:
                self.saved[worker] = await self.actors[worker].checkpoint.remote()
        return [steps[index] for index in self.assigned[worker]]
