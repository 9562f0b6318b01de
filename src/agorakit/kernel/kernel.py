"""The kernel: the one door every model call goes through.

It queues calls per backend under a concurrency limit, bounds each call's time
(a total for the call, retries and backoff included, and optionally a limit
per attempt), retries transient failures with backoff, accounts usage and cost
per call, agent and run, enforces run budgets, and traces each call as a
``chat`` span. It knows nothing about agents beyond a name for accounting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from agorakit.core.errors import ModelResponseError, ModelTimeout, TransientModelError
from agorakit.core.stream import TextDelta, UsageEvent, emit, listening
from agorakit.kernel.clock import CallClock
from agorakit.kernel.pricing import PriceTable
from agorakit.kernel.retry import RetryPolicy
from agorakit.kernel.run import RunLedger
from agorakit.models.base import ChatModel, Completion, ModelRequest, StreamChunk
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import Span

# Calls in flight per queue, by provider. The embedded model is one llama.cpp
# context: parallel calls would only contend for the same two cores.
DEFAULT_CONCURRENCY: Mapping[str, int | None] = {"llamacpp": 1, "openai": 16, "scripted": None}


class Kernel:
    """Schedules, retries, times out, accounts and traces model calls.

    ``timeout`` is the seconds one call may take in all: every attempt, and
    the backoff between attempts, count against it. A retry that could not
    start before it runs out is not made; the call fails with the last error
    (a :class:`~agorakit.core.errors.ModelTimeout` if the time ran out while
    the model was working). ``None`` means no limit. ``attempt_timeout``
    additionally cuts off each attempt on its own (``None``: only the total),
    so a hung attempt can be retried within the total. Time a call spends
    queued behind other calls to the same backend does not count.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = 300.0,
        attempt_timeout: float | None = None,
        concurrency: Mapping[str, int | None] | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.concurrency = {**DEFAULT_CONCURRENCY, **(concurrency or {})}
        self.prices = prices or PriceTable()
        # Semaphores bind to the loop that first uses them; run_sync makes a
        # new loop per call, so the queues are rebuilt when the loop changes.
        self._queues: dict[str, asyncio.Semaphore | None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- public ------------------------------------------------------------

    async def complete(
        self,
        model: ChatModel,
        request: ModelRequest,
        *,
        run: RunLedger | None = None,
        agent: str | None = None,
        timeout: float | None = None,
    ) -> Completion:
        """One completion, with queueing, retries, timeout, accounting and a trace span.

        ``timeout`` overrides the kernel's total for this call. In a streamed run
        (see :mod:`agorakit.core.stream`) the call streams, its text arriving as
        :class:`~agorakit.core.stream.TextDelta` events.
        """
        if listening():
            return await self._complete_streamed(model, request, run, agent, timeout)
        run = run if run is not None else RunLedger.create()
        run.check_budget()
        tracer = run.tracer
        attributes = self._span_attributes(model, request, agent) if tracer.enabled else None
        with tracer.span(f"chat {model.model_name}", attributes) as span:
            queue = self._queue(model)
            if queue is not None:
                await queue.acquire()
            try:
                clock = self._clock(timeout)
                attempts = 1
                while True:
                    try:
                        completion = await self._attempt(model, request, clock, attempts)
                        break
                    except TransientModelError as error:
                        await self._before_retry(span, attempts, error, clock)
                        attempts += 1
            finally:
                if queue is not None:
                    queue.release()
            self._account(model, completion, attempts, run, agent, span)
            return completion

    async def stream(
        self,
        model: ChatModel,
        request: ModelRequest,
        *,
        run: RunLedger | None = None,
        agent: str | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream one completion. Failures before the first chunk are retried like
        :meth:`complete`; once text has been shown, a failure is raised as is.

        The timeout bounds the time spent waiting for the model, over all
        attempts and backoffs; time the caller spends between chunks does not
        count, and the timeout only ever interrupts the wait for the model,
        never the caller's code. A caller that stops early (``break``) ends the
        span with ``agorakit.stream.closed_early`` rather than as an error.
        """
        run = run if run is not None else RunLedger.create()
        run.check_budget()
        # The span is opened without making it the current span: a generator that set a
        # ContextVar across its ``yield`` would leak it into the caller between chunks (and
        # after an early ``break``), and resetting it from the finaliser's context fails.
        span = run.tracer.start_span(f"chat {model.model_name}", self._span_attributes(model, request, agent))
        span.set("agorakit.stream", True)
        queue = self._queue(model)
        try:
            if queue is not None:
                await queue.acquire()
            try:
                clock = self._clock(timeout)
                attempt = 1
                while True:
                    emitted = False
                    limit, by_total = clock.attempt_limit()
                    waited = 0.0  # this attempt's time spent waiting for the model
                    chunks = model.stream(request).__aiter__()
                    try:
                        while True:
                            started = time.perf_counter()
                            try:
                                async with asyncio.timeout(None if limit is None else max(0.0, limit - waited)):
                                    chunk = await anext(chunks)
                            except StopAsyncIteration:
                                return
                            except TimeoutError as error:
                                why = clock.timed_out(limit, by_total)
                                raise ModelTimeout(f"{model.uri} stream did not answer {why}") from error
                            finally:
                                elapsed = time.perf_counter() - started
                                waited += elapsed
                                clock.spend(elapsed)
                            if chunk.completion is not None:
                                self._account(model, chunk.completion, attempt, run, agent, span)
                            emitted = True
                            yield chunk
                    except TransientModelError as error:
                        if emitted:
                            raise
                        failure = error
                    finally:
                        await _aclose(chunks)
                    await self._before_retry(span, attempt, failure, clock)
                    attempt += 1
            finally:
                if queue is not None:
                    queue.release()
        except GeneratorExit:
            span.set("agorakit.stream.closed_early", True)
            raise
        except BaseException as error:
            span.record_error(error)
            raise
        finally:
            span.end()

    # -- internals -----------------------------------------------------------

    async def _complete_streamed(
        self, model: ChatModel, request: ModelRequest, run: RunLedger | None, agent: str | None, timeout: float | None
    ) -> Completion:
        completion: Completion | None = None
        async for chunk in self.stream(model, request, run=run, agent=agent, timeout=timeout):
            if chunk.delta:
                emit(TextDelta(agent, chunk.delta))
            if chunk.completion is not None:
                completion = chunk.completion
        if completion is None:
            raise ModelResponseError(f"{model.uri} ended its stream without a completion")
        return completion

    def _queue(self, model: ChatModel) -> asyncio.Semaphore | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._queues.clear()
            self._loop = loop
        key = model.queue_key
        if key not in self._queues:
            limit = self.concurrency.get(model.provider, 8)
            self._queues[key] = asyncio.Semaphore(limit) if limit else None
        return self._queues[key]

    def _clock(self, timeout: float | None) -> CallClock:
        return CallClock(timeout if timeout is not None else self.timeout, self.attempt_timeout)

    async def _attempt(self, model: ChatModel, request: ModelRequest, clock: CallClock, attempt: int) -> Completion:
        limit, by_total = clock.attempt_limit()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                completion = await model.complete(request)
        except TimeoutError as error:
            why = clock.timed_out(limit, by_total)
            raise ModelTimeout(f"{model.uri} did not answer {why}; attempts made: {attempt}") from error
        finally:
            clock.spend(time.perf_counter() - started)
        if not completion.usage.latency_s:
            completion.usage.latency_s = time.perf_counter() - started
        return completion

    async def _before_retry(self, span: Span, attempt: int, error: TransientModelError, clock: CallClock) -> None:
        """Wait before attempt ``attempt + 1``, or raise ``error`` if there is to be none."""
        if not self.retry.should_retry(attempt, error):
            raise error
        delay = self.retry.delay(attempt, error)
        if not clock.fits(delay):
            # The retry could not start before the call's time is up: fail now, not at the deadline.
            raise error
        span.event(
            "retry",
            {
                attr.ATTEMPT: attempt,
                attr.ERROR_TYPE: type(error).__name__,
                attr.ERROR_MESSAGE: str(error)[:500],
                "agorakit.retry.delay_s": round(delay, 3),
            },
        )
        started = time.perf_counter()
        try:
            await asyncio.sleep(delay)
        finally:
            clock.spend(time.perf_counter() - started)

    def _account(
        self, model: ChatModel, completion: Completion, attempts: int, run: RunLedger, agent: str | None, span: Span
    ) -> None:
        usage = completion.usage
        usage.calls = 1
        usage.cost_usd = self.prices.cost(model.model_name, usage, hosted=model.hosted)
        run.record(usage, agent=agent, model=model.uri)
        if listening():
            emit(UsageEvent(agent, usage, dataclasses.replace(run.usage)))
        if not run.tracer.enabled:
            return
        span.attributes.update(
            {
                attr.INPUT_TOKENS: usage.input_tokens,
                attr.OUTPUT_TOKENS: usage.output_tokens,
                attr.FINISH_REASONS: [completion.finish_reason],
                attr.RESPONSE_MODEL: completion.model or model.model_name,
                attr.COST_USD: usage.cost_usd,
                attr.ATTEMPT: attempts,
            }
        )
        if run.tracer.capture_content:
            span.attributes[attr.OUTPUT_MESSAGES] = completion.message

    @staticmethod
    def _span_attributes(model: ChatModel, request: ModelRequest, agent: str | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            attr.OPERATION: attr.OP_CHAT,
            attr.PROVIDER: model.provider,
            attr.REQUEST_MODEL: model.model_name,
            "agorakit.request.message_count": len(request.messages),
        }
        if agent is not None:
            attributes[attr.AGENT_NAME] = agent
        sampling = request.sampling
        if sampling.temperature is not None:
            attributes[attr.REQUEST_TEMPERATURE] = sampling.temperature
        if sampling.max_tokens is not None:
            attributes[attr.REQUEST_MAX_TOKENS] = sampling.max_tokens
        return attributes


async def _aclose(chunks: AsyncIterator[StreamChunk]) -> None:
    """Close a backend's stream now (releasing its connection), not whenever it is collected."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
