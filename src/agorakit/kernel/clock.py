"""Time for the kernel: the clock it reads and sleeps on, and the time one model call may still spend.

The kernel never calls ``time`` or ``asyncio.sleep`` itself but a :class:`Clock`, so that
tests can run retries, backoff and timeouts on virtual time
(:class:`~agorakit.kernel.manual_clock.ManualClock`) instead of waiting real seconds.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """What the kernel needs of time: read it, wait on it, and bound a wait by it."""

    def now(self) -> float:
        """Monotonic seconds (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        """A context that raises :class:`TimeoutError` if its body runs longer than ``seconds`` (``None``: never)."""
        ...


class SystemClock:
    """Real time: ``time.perf_counter``, ``asyncio.sleep`` and ``asyncio.timeout``."""

    def now(self) -> float:
        return time.perf_counter()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(seconds)


@dataclass(slots=True)
class CallClock:
    """Counts the seconds a call has spent waiting for its model, over all its attempts.

    ``total`` bounds the whole call: every attempt and every backoff between
    them (``None``: no bound). ``per_attempt`` bounds each attempt on its own
    (``None``: only the total). The caller adds what it spent with
    :meth:`spend`; time outside the call (the backend's queue, a stream's
    consumer between chunks) is never added, so it never counts.
    """

    total: float | None
    per_attempt: float | None = None
    spent: float = 0.0

    @property
    def remaining(self) -> float | None:
        """Seconds left of the call's total, or ``None`` if it has none."""
        return None if self.total is None else max(0.0, self.total - self.spent)

    def attempt_limit(self) -> tuple[float | None, bool]:
        """The limit for the next attempt, and whether it is the call's total (not the per-attempt limit)."""
        remaining = self.remaining
        if remaining is None:
            return self.per_attempt, False
        if self.per_attempt is None or remaining <= self.per_attempt:
            return remaining, True
        return self.per_attempt, False

    def fits(self, delay: float) -> bool:
        """Whether waiting ``delay`` seconds still leaves time for another attempt."""
        remaining = self.remaining
        return remaining is None or delay < remaining

    def spend(self, seconds: float) -> None:
        self.spent += max(0.0, seconds)

    def timed_out(self, limit: float | None, by_total: bool) -> str:
        """Why an attempt cut off at ``limit`` stopped, for the error message."""
        if by_total:
            return f"within {self.total}s (the call's timeout, retries included)"
        return f"within {limit}s (the per-attempt timeout)"
