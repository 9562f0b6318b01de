"""One cell of the grid run to its row: the method on the sample, the checker, the optional judge.

The grid's executors (in process, or on Ray actors) each hold a
:class:`JobRunner` with the grid's models loaded once, and hand it jobs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from agorakit.eval.grid import Configuration, GridSpec, Job
from agorakit.eval.record import ResultRow

if TYPE_CHECKING:
    from agorakit.eval.sample import Sample
    from agorakit.kernel import Kernel, RunLedger
    from agorakit.models.base import ChatModel

__all__ = ["JobRunner", "load_backends"]


def load_backends(uris: Sequence[str], given: Mapping[str, ChatModel]) -> dict[str, ChatModel]:
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


class JobRunner:
    """Runs one job to a row: the method, the checker, the judge.

    ``flush_traces`` makes each run's trace reach its store before the row is
    returned, for a worker whose row is written by another process, which may
    outlive it.
    """

    def __init__(
        self, spec: GridSpec, models: Mapping[str, ChatModel], kernel: Kernel, *, flush_traces: bool = False
    ) -> None:
        from agorakit.eval.checking import check
        from agorakit.models.base import Sampling

        self.check = check
        self.spec = spec
        self.models = models
        self.kernel = kernel
        self.sampling = Sampling(max_tokens=spec.max_tokens) if spec.max_tokens is not None else None
        self.flush_traces = flush_traces
        self.slots = 1

    async def run(self, job: Job) -> ResultRow:
        from agorakit.kernel import RunLedger
        from agorakit.trace.setup import tracer_for

        # Our own context: its usage ledger survives a run that raises.
        run = RunLedger.create(tracer_for(None if self.spec.trace else False))
        row = await self._run(job, run)
        if self.flush_traces and run.tracer.enabled:
            await asyncio.to_thread(run.tracer.flush, 30.0)
        return row

    async def _run(self, job: Job, run: RunLedger) -> ResultRow:
        from agorakit.methods import method_class

        config = job.configuration
        method = method_class(config.method)(
            self.models[job.model], kernel=self.kernel, sampling=self.sampling, **dict(config.overrides)
        )
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
