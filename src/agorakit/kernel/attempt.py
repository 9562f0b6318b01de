"""The one retry path of the kernel: a call's attempts, each timed, with backoff between them.

:meth:`Kernel.complete <agorakit.kernel.Kernel.complete>` and
:meth:`Kernel.stream <agorakit.kernel.Kernel.stream>` both run their attempts
through :func:`retrying`; they differ only in what an attempt does (await the
completion, or open the stream and await its first chunk).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from agorakit.core.errors import ModelTimeout, TransientModelError
from agorakit.kernel.clock import CallClock, Clock
from agorakit.kernel.retry import RetryPolicy
from agorakit.trace import attributes as attr
from agorakit.trace.tracer import Span

T = TypeVar("T")


class Attempt:
    """One try at a model call. Only the time spent in :meth:`wait` counts against the call's
    limits, so the caller's own time (between a stream's chunks) never does."""

    __slots__ = ("_by_total", "_call", "_clock", "_limit", "number", "waited", "what")

    def __init__(self, number: int, what: str, clock: Clock, call: CallClock) -> None:
        self.number = number  # 1-based
        self.what = what  # the model, as the timeout message names it
        self.waited = 0.0  # seconds this attempt has spent waiting for the model
        self._clock = clock
        self._call = call
        self._limit, self._by_total = call.attempt_limit()

    async def wait(self, step: Awaitable[T]) -> T:
        """Await one step of the model (its answer, or a stream's next chunk) within what
        is left of this attempt's limit; a step cut off raises :class:`ModelTimeout`."""
        limit = None if self._limit is None else max(0.0, self._limit - self.waited)
        started = self._clock.now()
        try:
            async with self._clock.timeout(limit):
                return await step
        except TimeoutError as error:
            why = self._call.timed_out(self._limit, self._by_total)
            raise ModelTimeout(f"{self.what} did not answer {why}; attempts made: {self.number}") from error
        finally:
            elapsed = self._clock.now() - started
            self.waited += elapsed
            self._call.spend(elapsed)


async def retrying(
    start: Callable[[Attempt], Awaitable[T]],
    *,
    what: str,
    policy: RetryPolicy,
    clock: Clock,
    call: CallClock,
    span: Span,
) -> tuple[T, Attempt]:
    """Run ``start`` as attempt 1, 2, ... until one returns; give back its result and the attempt.

    A :class:`TransientModelError` is retried after the policy's backoff, which
    counts against the call's total, and is recorded as a ``retry`` span
    event. It is raised as is when the policy allows no more attempts or the
    backoff would leave no time for one (failing now, not at the deadline).
    """
    number = 1
    while True:
        attempt = Attempt(number, what, clock, call)
        try:
            return await start(attempt), attempt
        except TransientModelError as error:
            if not policy.should_retry(number, error):
                raise
            delay = policy.delay(number, error)
            if not call.fits(delay):
                raise
            span.event(
                "retry",
                {
                    attr.ATTEMPT: number,
                    attr.ERROR_TYPE: type(error).__name__,
                    attr.ERROR_MESSAGE: str(error)[:500],
                    "agorakit.retry.delay_s": round(delay, 3),
                },
            )
        started = clock.now()
        try:
            await clock.sleep(delay)
        finally:
            call.spend(clock.now() - started)
        number += 1
