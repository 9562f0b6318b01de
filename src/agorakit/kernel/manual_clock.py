"""Virtual time for tests: :class:`ManualClock` (kept apart so the kernel's import does not pay for it)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType


@dataclass(order=True, slots=True)
class _Timer:
    when: float
    order: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class ManualClock:
    """Virtual time for tests: sleeps and timeouts end at once, in deadline order.

    Time stands still until every task is waiting: then it jumps to the next
    deadline (a sleep's end or a timeout's), as trio's autojump clock does.
    "Every task is waiting" is judged by letting the event loop turn ``settle``
    times, so a task waiting on real I/O or a real ``asyncio.sleep`` counts as
    waiting forever: give such code this clock's :meth:`sleep` (for example
    ``ScriptedModel(..., sleep=clock.sleep)``). :meth:`advance` moves time by
    hand, as a caller spending time between stream chunks would.

    ``sleeps`` records every sleep asked for, in order, so tests can assert the
    exact backoff delays.
    """

    def __init__(self, start: float = 0.0, *, settle: int = 8) -> None:
        self.sleeps: list[float] = []
        self.settle = settle
        self._now = start
        self._timers: list[_Timer] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self._at(self._now + seconds, partial(_wake, woken))
        try:
            await woken
        finally:
            timer.cancelled = True

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        return _VirtualTimeout(self, seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, ending the sleeps and timeouts that fall due."""
        if seconds < 0:
            raise ValueError(f"time cannot go back ({seconds}s)")
        self._fire_until(self._now + seconds)

    # -- internals -----------------------------------------------------------

    def _at(self, when: float, action: Callable[[], None]) -> _Timer:
        timer = _Timer(when, next(self._order), action)
        heapq.heappush(self._timers, timer)
        loop = asyncio.get_running_loop()
        if self._driver is None or self._driver.done() or self._driver.get_loop() is not loop:
            self._driver = loop.create_task(self._drive())
        return timer

    def _fire_until(self, when: float) -> None:
        while self._timers and self._timers[0].when <= when:
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._now = max(self._now, timer.when)
                timer.action()
        self._now = max(self._now, when)

    async def _drive(self) -> None:
        """Jump to the next deadline whenever the loop has gone quiet; stop when none is left."""
        while True:
            for _ in range(self.settle):
                await asyncio.sleep(0)
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            if not self._timers:
                return
            self._fire_until(self._timers[0].when)


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():  # a cancelled sleeper stays cancelled
        sleeper.set_result(None)


class _VirtualTimeout:
    """``asyncio.timeout`` whose deadline is on a :class:`ManualClock`: when virtual time
    reaches it, the real timeout is moved to "now", so cancellation and the
    :class:`TimeoutError` work exactly as asyncio's own."""

    def __init__(self, clock: ManualClock, seconds: float | None) -> None:
        self._clock = clock
        self._seconds = seconds
        self._inner = asyncio.timeout(None)
        self._timer: _Timer | None = None

    async def __aenter__(self) -> _VirtualTimeout:
        await self._inner.__aenter__()
        if self._seconds is not None:
            if self._seconds <= 0:
                self._expire()
            else:
                self._timer = self._clock._at(self._clock.now() + self._seconds, self._expire)
        return self

    def _expire(self) -> None:
        self._inner.reschedule(asyncio.get_running_loop().time())

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancelled = True
        await self._inner.__aexit__(kind, error, trace)  # raises TimeoutError if it expired
