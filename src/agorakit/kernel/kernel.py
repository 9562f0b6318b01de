"""The kernel: the one door every model call goes through.

It queues calls per backend under a concurrency limit (the waiting calls
ordered by a scheduling policy, see :mod:`agorakit.kernel.scheduling`), bounds each call's time
(a total for the call, retries and backoff included, and optionally a limit
per attempt), retries transient failures with backoff, accounts usage and cost
per call, agent and run, enforces run budgets, and traces each call as a
``chat`` span. It knows nothing about agents beyond a name for accounting.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from agorakit.core.errors import ModelResponseError
from agorakit.core.stream import TextDelta, UsageEvent, emit, listening
from agorakit.kernel.attempt import Attempt, retrying
from agorakit.kernel.clock import CallClock, Clock, SystemClock
from agorakit.kernel.pricing import PriceTable
from agorakit.kernel.retry import RetryPolicy
from agorakit.kernel.run import RunLedger
from agorakit.kernel.scheduling import CallQueue, QueueStats, SchedulingPolicy, check_policy
from agorakit.models.base import ChatModel, Completion, ModelRequest, StreamChunk
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import Span

T = TypeVar("T")

# Calls in flight per queue, by provider. The embedded model in process is one llama.cpp
# context: parallel calls would only contend for the same two cores (the local engine
# says how many it serves at once: its slots, as ``max_concurrency``).
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

    ``clock`` is what the kernel reads time from, sleeps on and times out by
    (default: the real one); tests pass a :class:`~agorakit.kernel.clock.ManualClock`
    so that retries and timeouts take no real time.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = 300.0,
        attempt_timeout: float | None = None,
        concurrency: Mapping[str, int | None] | None = None,
        prices: PriceTable | None = None,
        clock: Clock | None = None,
        scheduling: SchedulingPolicy = "fifo",
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.concurrency = {**DEFAULT_CONCURRENCY, **(concurrency or {})}
        self._chosen_concurrency = dict(concurrency or {})
        self.prices = prices or PriceTable()
        self.scheduling: SchedulingPolicy = check_policy(scheduling)
        self.clock: Clock = clock if clock is not None else SystemClock()
        # Queues (their waiters' futures) bind to the loop that first uses them; run_sync
        # makes a new loop per call, so the queues are rebuilt when the loop changes.
        self._queues: dict[str, CallQueue | None] = {}
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
        journal, key = run.journal, ""
        if journal is not None:
            key = journal.completion_key(model.uri, agent, request)
            recorded = journal.recorded_completion(key)
            if recorded is not None:
                with tracer.span(f"chat {model.model_name}", attributes) as span:
                    span.set(attr.REPLAYED, True)
                    self._account(model, recorded, 1, run, agent, span)
                return recorded
        with tracer.span(f"chat {model.model_name}", attributes) as span:
            queue = self._queue(model)
            if queue is not None:
                await self._wait_turn(queue, run, agent, span)
            try:
                # The call's clock starts only now: time queued behind other calls does not count.
                completion, attempt = await self._retrying(
                    model.uri, span, timeout, lambda attempt: attempt.wait(model.complete(request))
                )
            finally:
                if queue is not None:
                    queue.release()
            if not completion.usage.latency_s:
                completion.usage.latency_s = attempt.waited
            self._account(model, completion, attempt.number, run, agent, span)
        if journal is not None:
            journal.record_completion(key, completion)
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
        journal = run.journal
        key = journal.completion_key(model.uri, agent, request) if journal is not None else ""
        recorded = journal.recorded_completion(key) if journal is not None else None
        if recorded is not None:
            try:
                span.set(attr.REPLAYED, True)
                self._account(model, recorded, 1, run, agent, span)
                yield StreamChunk(recorded.message.content or "", recorded)
            finally:
                span.end()
            return
        queue = self._queue(model)
        try:
            if queue is not None:
                await self._wait_turn(queue, run, agent, span)
            try:

                async def first_chunk(attempt: Attempt) -> tuple[AsyncIterator[StreamChunk], StreamChunk | None]:
                    # An attempt ends at the first chunk: a failure after it is not retried.
                    chunks = model.stream(request).__aiter__()
                    try:
                        return chunks, await attempt.wait(anext(chunks, None))
                    except BaseException:
                        await _aclose(chunks)
                        raise

                (chunks, chunk), attempt = await self._retrying(f"{model.uri} stream", span, timeout, first_chunk)
                try:
                    while chunk is not None:
                        if chunk.completion is not None:
                            self._account(model, chunk.completion, attempt.number, run, agent, span)
                            if journal is not None:
                                journal.record_completion(key, chunk.completion)
                        yield chunk
                        chunk = await attempt.wait(anext(chunks, None))
                finally:
                    await _aclose(chunks)
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

    @staticmethod
    async def _wait_turn(queue: CallQueue, run: RunLedger, agent: str | None, span: Span) -> None:
        waited = await queue.acquire(agent=agent, run_id=run.run_id, priority=run.priority)
        if run.tracer.enabled:
            span.attributes[attr.QUEUE_WAIT_S] = round(waited, 6)

    def queue_stats(self, model: ChatModel) -> QueueStats | None:
        """What the queue of ``model``'s backend has served (``None`` before its first call, or with no limit)."""
        queue = self._queues.get(model.queue_key)
        return queue.stats if queue is not None else None

    def _queue(self, model: ChatModel) -> CallQueue | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._queues.clear()
            self._loop = loop
        key = model.queue_key
        if key not in self._queues:
            # The caller's choice, else what the model says it serves at once (an engine's
            # slots), else the provider's default.
            limit: int | None
            if model.provider in self._chosen_concurrency:
                limit = self._chosen_concurrency[model.provider]
            elif hasattr(model, "max_concurrency"):
                limit = model.max_concurrency
            else:
                limit = self.concurrency.get(model.provider, 8)
            self._queues[key] = CallQueue(limit, self.scheduling) if limit else None
        return self._queues[key]

    def _retrying(
        self, what: str, span: Span, timeout: float | None, start: Callable[[Attempt], Awaitable[T]]
    ) -> Awaitable[tuple[T, Attempt]]:
        # Not a coroutine itself: one await less on every model call.
        call = CallClock(timeout if timeout is not None else self.timeout, self.attempt_timeout)
        return retrying(start, what=what, policy=self.retry, clock=self.clock, call=call, span=span)

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
        if usage.cached_input_tokens:
            span.attributes[attr.CACHED_INPUT_TOKENS] = usage.cached_input_tokens
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
