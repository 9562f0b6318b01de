"""The benchmark grid on Ray: samples run on actors, rows are written by the driver alone.

Each actor holds a :class:`~agorakit.eval.job.JobRunner` with the grid's models
loaded once (the embedded model is loaded by each actor, on its node) and runs
the jobs it is handed concurrently. The driver hands each job to the actor with
the fewest in flight, writes the row it returns, and so stays the single writer
of the results database: resume and one row per key hold as in process. An
actor that dies is replaced and its jobs handed out again; its runs' traces are
in its node's trace store, flushed before each row is returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from agorakit.eval.grid import GridSpec, Job
from agorakit.eval.job import JobRunner, load_backends
from agorakit.eval.record import ResultRow
from agorakit.kernel.cluster import ray_session
from agorakit.models.base import ChatModel

#: Times a job is handed out again after the actor running it died.
RESTARTS = 3


class GridWorker:
    """An actor's state: the grid's models, loaded here, and one kernel for all its jobs."""

    def __init__(self, spec: GridSpec, uris: Sequence[str], given: Mapping[str, ChatModel]) -> None:
        from agorakit.kernel import Kernel

        self.runner = JobRunner(spec, load_backends(uris, given), Kernel(timeout=spec.timeout), flush_traces=True)

    async def run(self, job: Job) -> ResultRow:
        return await self.runner.run(job)


class RayJobs:
    """Jobs run on a pool of actors; one that dies is replaced and its jobs run again."""

    def __init__(self, ray: Any, spec: GridSpec, uris: Sequence[str], given: Mapping[str, ChatModel]) -> None:
        self.ray = ray
        # No CPUs reserved (a worker waits on its model more than it computes), spread over the nodes.
        self.actor_class = ray.remote(num_cpus=0, scheduling_strategy="SPREAD")(GridWorker)
        self.arguments = (spec, list(uris), dict(given))
        count = spec.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.actors = [self.actor_class.remote(*self.arguments) for _ in range(count)]
        self.in_flight = [0] * count
        self.slots = count
        self.restarts = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, spec: GridSpec, uris: Sequence[str], given: Mapping[str, ChatModel]) -> AsyncIterator[RayJobs]:
        """The actors, on the cluster at ``spec.address`` or on a local Ray started (and stopped) here."""
        with ray_session(spec.address) as ray:
            yield cls(ray, spec, uris, given)

    async def run(self, job: Job) -> ResultRow:
        for attempt in range(RESTARTS + 1):
            worker = min(range(len(self.actors)), key=self.in_flight.__getitem__)
            actor = self.actors[worker]
            self.in_flight[worker] += 1
            try:
                row: ResultRow = await actor.run.remote(job)
                return row
            except self.ray.exceptions.RayActorError:
                if attempt == RESTARTS:
                    raise
                if self.actors[worker] is actor:  # the first of its jobs to notice replaces it
                    self.actors[worker] = self.actor_class.remote(*self.arguments)
                    self.restarts += 1
            finally:
                self.in_flight[worker] -= 1
        raise AssertionError("unreachable")  # pragma: no cover
