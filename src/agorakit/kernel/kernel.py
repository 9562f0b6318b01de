"""The kernel: the one door every model call goes through.

It queues calls per backend under a concurrency limit, applies a per-attempt
timeout, retries transient failures with backoff (tenacity), accounts usage
and cost per call, agent and run, enforces run budgets, and traces each call
as a ``chat`` span. It knows nothing about agents beyond a name for accounting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from tenacity import AsyncRetrying, RetryCallState

from agorakit.core.errors import ModelTimeout, TransientModelError
from agorakit.kernel.pricing import PriceTable
from agorakit.kernel.retry import RetryPolicy
from agorakit.kernel.run import RunContext
from agorakit.models.base import ChatModel, Completion, ModelRequest, StreamChunk
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import Span

# Calls in flight per queue, by provider. The embedded model is one llama.cpp
# context: parallel calls would only contend for the same two cores.
DEFAULT_CONCURRENCY: Mapping[str, int | None] = {"llamacpp": 1, "openai": 16, "scripted": None}


class Kernel:
    """Schedules, retries, times out, accounts and traces model calls."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = 300.0,
        concurrency: Mapping[str, int | None] | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
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
        run: RunContext | None = None,
        agent: str | None = None,
        timeout: float | None = None,
    ) -> Completion:
        """One completion, with queueing, retries, timeout, accounting and a trace span."""
        run = run if run is not None else RunContext.create()
        run.check_budget()
        limit = timeout if timeout is not None else self.timeout
        tracer = run.tracer
        attributes = self._span_attributes(model, request, agent) if tracer.enabled else None
        with tracer.span(f"chat {model.model_name}", attributes) as span:
            queue = self._queue(model)
            if queue is not None:
                await queue.acquire()
            try:
                # The first attempt runs bare: tenacity's bookkeeping costs more
                # than a whole turn with a fast model, and most calls succeed.
                completion = await self._attempt(model, request, limit)
                attempts = 1
            except TransientModelError as error:
                completion, attempts = await self._retry(model, request, limit, span, error)
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
        run: RunContext | None = None,
        agent: str | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream one completion. Failures before the first chunk are retried like
        :meth:`complete`; once text has been shown, a failure is raised as is.

        The timeout bounds the time spent waiting for the model in each attempt;
        time the caller spends between chunks does not count, and the timeout
        only ever interrupts the wait for the model, never the caller's code.
        A caller that stops early (``break``) ends the span with
        ``agorakit.stream.closed_early`` rather than as an error.
        """
        run = run if run is not None else RunContext.create()
        run.check_budget()
        limit = timeout if timeout is not None else self.timeout
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
                attempt = 1
                while True:
                    emitted = False
                    remaining = limit  # this attempt's time left waiting for the model
                    chunks = model.stream(request).__aiter__()
                    try:
                        while True:
                            started = time.perf_counter()
                            try:
                                async with asyncio.timeout(remaining):
                                    chunk = await anext(chunks)
                            except StopAsyncIteration:
                                return
                            except TimeoutError as error:
                                raise ModelTimeout(f"{model.uri} stream timed out after {limit}s") from error
                            if remaining is not None:
                                remaining -= time.perf_counter() - started
                            if chunk.completion is not None:
                                self._account(model, chunk.completion, attempt, run, agent, span)
                            emitted = True
                            yield chunk
                    except TransientModelError as error:
                        if emitted or not self.retry.should_retry(attempt, error):
                            raise
                        failure = error
                    finally:
                        await _aclose(chunks)
                    await self._before_retry(span, attempt, failure)
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

    async def _attempt(self, model: ChatModel, request: ModelRequest, limit: float | None) -> Completion:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                completion = await model.complete(request)
        except TimeoutError as error:
            raise ModelTimeout(f"{model.uri} did not answer within {limit}s") from error
        if not completion.usage.latency_s:
            completion.usage.latency_s = time.perf_counter() - started
        return completion

    async def _retry(
        self, model: ChatModel, request: ModelRequest, limit: float | None, span: Span, error: TransientModelError
    ) -> tuple[Completion, int]:
        """Attempts 2 and on, after the first failed with ``error``."""
        if not self.retry.should_retry(1, error):
            raise error
        await self._before_retry(span, 1, error)

        policy = self.retry
        retrying = AsyncRetrying(
            # attempt_number counts from 1 inside this loop, which is overall attempt 2.
            stop=lambda state: not policy.should_retry(state.attempt_number + 1, _error(state)),
            wait=lambda state: policy.delay(state.attempt_number + 1, _error(state)),
            retry=lambda state: isinstance(_error(state), TransientModelError),
            before_sleep=lambda state: self._note_retry_quietly(span, state.attempt_number + 1, _error(state)),
            reraise=True,
        )
        attempts = 1
        async for attempt in retrying:
            with attempt:
                attempts += 1
                return await self._attempt(model, request, limit), attempts
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def _before_retry(self, span: Span, attempt: int, error: BaseException) -> None:
        delay = self._note_retry(span, attempt, error)
        await asyncio.sleep(delay)

    def _note_retry_quietly(self, span: Span, attempt: int, error: BaseException | None) -> None:
        self._note_retry(span, attempt, error)

    def _note_retry(self, span: Span, attempt: int, error: BaseException | None) -> float:
        delay = self.retry.delay(attempt, error)
        span.event(
            "retry",
            {
                attr.ATTEMPT: attempt,
                attr.ERROR_TYPE: type(error).__name__,
                attr.ERROR_MESSAGE: str(error)[:500],
                "agorakit.retry.delay_s": round(delay, 3),
            },
        )
        return delay

    def _account(
        self, model: ChatModel, completion: Completion, attempts: int, run: RunContext, agent: str | None, span: Span
    ) -> None:
        usage = completion.usage
        usage.calls = 1
        usage.cost_usd = self.prices.cost(model.model_name, usage, hosted=model.hosted)
        run.record(usage, agent=agent, model=model.uri)
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


def _error(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None
