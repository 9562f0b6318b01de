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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agorakit.eval.grid import Configuration, GridSpec, Job, configuration, jobs, load_samples
from agorakit.eval.record import ResultRow

if TYPE_CHECKING:
    from agorakit.eval.results import ResultsStore
    from agorakit.eval.sample import Sample
    from agorakit.kernel import Kernel, RunLedger
    from agorakit.models.base import ChatModel

__all__ = ["GridOutcome", "GridSpec", "run_grid"]


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
    from agorakit.kernel import Kernel

    if spec.concurrency < 1:
        from agorakit.core.errors import ConfigError

        raise ConfigError(f"concurrency must be at least 1, got {spec.concurrency}")
    configurations = [configuration(name, overrides, spec.max_tokens) for name, overrides in spec.methods]
    chosen = samples if samples is not None else load_samples(spec.datasets, spec.limit, spec.seed)
    cells = jobs(configurations, chosen, spec.models)
    models = _backends([*spec.models, *([spec.judge] if spec.judge else [])], backends or {})

    outcome = GridOutcome(total=len(cells))
    finished = store.done_keys(include_errors=not spec.retry_errors)
    pending = [job for job in cells if job.key not in finished]
    outcome.skipped = len(cells) - len(pending)
    if outcome.skipped:
        keys = {job.key for job in cells} & finished
        outcome.correct = sum(row.correct for row in _stored(store, cells) if row.key in keys)
    if on_progress is not None:
        on_progress(outcome)

    runner = _Runner(spec, models, Kernel(timeout=spec.timeout))
    gate = asyncio.Semaphore(spec.concurrency)

    async def one(job: Job) -> None:
        async with gate:
            row = await runner.run(job)
        store.write(row)
        outcome.done += 1
        outcome.errors += row.status == "error"
        outcome.correct += row.correct
        outcome.last = row
        if on_progress is not None:
            on_progress(outcome)

    try:
        async with asyncio.TaskGroup() as group:
            for job in pending:
                group.create_task(one(job))
    except ExceptionGroup as failures:
        # Only what is not a method's error gets here (the store failing, a bad
        # setting): raise the first one as itself, so the CLI shows one line.
        raise _first(failures) from None
    return outcome


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


def _stored(store: ResultsStore, cells: Sequence[Job]) -> list[ResultRow]:
    return store.rows(
        datasets={job.key.dataset for job in cells},
        methods={job.key.method for job in cells},
        models={job.key.model for job in cells},
    )


def _backends(uris: Sequence[str], given: Mapping[str, ChatModel]) -> dict[str, ChatModel]:
    """One backend per URI, resolved and loaded once for the whole grid."""
    from agorakit.models import resolve_model

    found: dict[str, ChatModel] = {}
    for uri in dict.fromkeys(uris):
        if uri in given:
            found[uri] = given[uri]
            continue
        backend = resolve_model(uri)
        preload = getattr(backend, "load", None)
        if callable(preload):
            preload()
        found[uri] = backend
    return found


def _message(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class _Runner:
    """Runs one job to a row: the method, the checker, the judge."""

    def __init__(self, spec: GridSpec, models: Mapping[str, ChatModel], kernel: Kernel) -> None:
        from agorakit.eval.checking import check
        from agorakit.models.base import Sampling

        self.check = check
        self.spec = spec
        self.models = models
        self.kernel = kernel
        self.sampling = Sampling(max_tokens=spec.max_tokens) if spec.max_tokens is not None else None

    async def run(self, job: Job) -> ResultRow:
        from agorakit.kernel import RunLedger
        from agorakit.methods import method_class
        from agorakit.trace.setup import tracer_for

        config = job.configuration
        method = method_class(config.method)(
            self.models[job.model], kernel=self.kernel, sampling=self.sampling, **dict(config.overrides)
        )
        # Our own context: its usage ledger survives a run that raises.
        run = RunLedger.create(tracer_for(None if self.spec.trace else False))
        run_id = run.run_id if run.tracer.enabled else ""
        started = time.perf_counter()
        try:
            result = await method.run(job.sample.question, context=run)
        except Exception as error:  # recorded; the grid goes on (cancellation is not an Exception)
            return self._row(job, config, run, run_id, time.perf_counter() - started, error=_message(error))
        latency = time.perf_counter() - started
        try:
            verdict = await self.check(job.sample, result.answer)
        except Exception as error:
            return self._row(
                job, config, run, run_id, latency, prediction=result.answer, error=f"check failed: {_message(error)}"
            )
        judged: bool | None = None
        judge_reason = ""
        if self.spec.judge is not None:
            judged, judge_reason = await self._judge(self.models[self.spec.judge], job.sample, result.answer)
        return self._row(
            job,
            config,
            run,
            run_id,
            latency,
            prediction=result.answer,
            extracted=verdict.extracted,
            correct=verdict.correct,
            reason=verdict.reason,
            judge_correct=judged,
            judge_reason=judge_reason,
        )

    async def _judge(self, model: ChatModel, sample: Sample, prediction: str) -> tuple[bool | None, str]:
        """The LLM judge's verdict; a judge that fails leaves the row unjudged, with why.

        Its calls go through the grid's kernel (so they queue with the methods'
        calls) and are not counted in the row's usage, which is the method's.
        """
        from agorakit.eval.checking.judge import judge_answer

        try:
            verdict = await judge_answer(model, sample, prediction, kernel=self.kernel)
        except Exception as error:
            return None, f"judge failed: {_message(error)}"
        return verdict.correct, verdict.reason

    @staticmethod
    def _row(
        job: Job,
        config: Configuration,
        run: RunLedger,
        run_id: str,
        latency: float,
        *,
        prediction: str = "",
        extracted: str | None = None,
        correct: bool = False,
        reason: str = "",
        error: str = "",
        judge_correct: bool | None = None,
        judge_reason: str = "",
    ) -> ResultRow:
        usage = run.usage
        return ResultRow(
            key=job.key,
            config=config.config,
            status="error" if error else "ok",
            prediction=prediction,
            extracted=extracted,
            correct=correct and not error,
            reason=reason,
            calls=usage.calls,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
            latency_s=latency,
            run_id=run_id,
            error=error,
            judge_correct=judge_correct,
            judge_reason=judge_reason,
            finished_at=time.time(),
            question=job.sample.question,
            expected=job.sample.answer,
        )
