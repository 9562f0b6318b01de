"""The benchmark runner: every sample × configuration × model, one stored row each, resumable.

``run_grid`` skips every key the store already has (unless ``retry_errors``,
which reruns the rows recorded as errors), runs the rest with at most
``concurrency`` samples in flight, checks each answer (and optionally asks an
LLM judge), and writes each row the moment its sample finishes. A method that
raises on a sample becomes an ``error`` row with the usage it had spent; the
grid goes on. Cancellation and Ctrl-C are not caught.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agorakit.eval.grid import GridSpec, Job, configuration, jobs, load_samples
from agorakit.eval.record import ResultRow

if TYPE_CHECKING:
    from agorakit.eval.results import ResultsStore
    from agorakit.eval.sample import Sample
    from agorakit.models.base import ChatModel

__all__ = ["ENGINES", "GridOutcome", "GridSpec", "run_grid"]

#: Where a grid's samples can run.
ENGINES = ("inprocess", "ray")


@dataclass(slots=True)
class GridOutcome:
    """Counts of a grid run, updated live (``on_progress`` is given this object after every row).

    ``total`` is every cell of the grid; ``skipped`` the cells already in the
    store, not run again; ``done`` the rows written by this run, ``errors``
    included; ``correct`` counts correct rows over skipped and done cells
    alike, so ``accuracy`` is the grid's so far. ``last`` is the row just
    written.
    """

    total: int = 0
    skipped: int = 0
    done: int = 0
    errors: int = 0
    correct: int = 0
    last: ResultRow | None = None

    @property
    def completed(self) -> int:
        return self.skipped + self.done

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.completed if self.completed else None


ProgressCallback = Callable[[GridOutcome], None]


async def run_grid(
    spec: GridSpec,
    store: ResultsStore,
    *,
    on_progress: ProgressCallback | None = None,
    backends: Mapping[str, ChatModel] | None = None,
    samples: Mapping[str, Sequence[Sample]] | None = None,
) -> GridOutcome:
    """Run the grid ``spec`` into ``store`` and return the counts.

    ``backends`` maps model URIs (grid models or the judge) to backends already
    resolved and loaded, so a caller can load the embedded model once under a
    spinner, or pass a scripted model; other URIs are resolved and loaded here.
    ``samples`` maps dataset names to samples to use as given instead of
    loading ``spec.datasets`` (which are then not read).

    Raises :class:`~agorakit.core.errors.ConfigError` before running anything
    for an unknown method, setting, dataset or model URI.
    """
    from agorakit.core.errors import ConfigError

    if spec.concurrency is not None and spec.concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {spec.concurrency}")
    if spec.engine not in ENGINES:
        raise ConfigError(f"no engine named {spec.engine!r}", hint=f"use one of {', '.join(ENGINES)}")
    configurations = [configuration(name, overrides, spec.max_tokens) for name, overrides in spec.methods]
    chosen = samples if samples is not None else load_samples(spec.datasets, spec.limit, spec.seed)
    cells = jobs(configurations, chosen, spec.models)
    uris = [*spec.models, *([spec.judge] if spec.judge else [])]

    outcome = GridOutcome(total=len(cells))
    finished = store.done_keys(include_errors=not spec.retry_errors)
    pending = [job for job in cells if job.key not in finished]
    outcome.skipped = len(cells) - len(pending)
    if outcome.skipped:
        keys = {job.key for job in cells} & finished
        outcome.correct = sum(row.correct for row in _stored(store, cells) if row.key in keys)
    if on_progress is not None:
        on_progress(outcome)

    async def one(job: Job) -> None:
        async with gate:
            row = await executor.run(job)
        store.write(row)
        outcome.done += 1
        outcome.errors += row.status == "error"
        outcome.correct += row.correct
        outcome.last = row
        if on_progress is not None:
            on_progress(outcome)

    try:
        async with _executor(spec, uris, backends or {}, bool(pending)) as executor, asyncio.TaskGroup() as group:
            gate = asyncio.Semaphore(spec.concurrency or executor.slots)
            for job in pending:
                group.create_task(one(job))
    except ExceptionGroup as failures:
        # Only what is not a method's error gets here (the store failing, a bad
        # setting): raise the first one as itself, so the CLI shows one line.
        raise _first(failures) from None
    return outcome


class _Executor(Protocol):
    slots: int  # samples in flight when the spec does not say

    async def run(self, job: Job) -> ResultRow: ...


@contextlib.asynccontextmanager
async def _executor(
    spec: GridSpec, uris: Sequence[str], given: Mapping[str, ChatModel], needed: bool
) -> AsyncIterator[_Executor]:
    """Where the jobs run: a runner in this process, or actors on Ray (not started when nothing is left to run)."""
    if spec.engine == "ray" and needed:
        from agorakit.eval.ray_grid import RayJobs

        async with RayJobs.open(spec, uris, given) as jobs_on_ray:
            yield jobs_on_ray
        return
    from agorakit.eval.job import JobRunner, load_backends
    from agorakit.kernel import Kernel

    models = load_backends(uris, given) if needed else {}
    yield JobRunner(spec, models, Kernel(timeout=spec.timeout))


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


def _stored(store: ResultsStore, cells: Sequence[Job]) -> list[ResultRow]:
    return store.rows(
        datasets={job.key.dataset for job in cells},
        methods={job.key.method for job in cells},
        models={job.key.model for job in cells},
    )
