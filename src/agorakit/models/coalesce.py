"""Identical requests made together become one request whose results go to each caller.

Agents started at the same moment on the same prompt (a debate's first round,
a vote among copies of one agent) would each have the model compute the same
thing. When the answer is fixed by the request (greedy decoding, or a seed),
computing it once and handing every caller the result gives them what separate
requests would have (see :class:`agorakit.models.llamacpp_server.LlamaServerModel`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Group(Generic[T]):
    __slots__ = ("task", "waiters")

    def __init__(self) -> None:
        self.waiters: list[asyncio.Future[T]] = []
        self.task: asyncio.Task[None] | None = None


class Coalescer(Generic[T]):
    """Requests with equal keys that arrive within ``window`` seconds of the first (at most
    ``limit`` of them) are sent as one: ``send(n)`` returns ``n`` results, one to each caller."""

    def __init__(self, window: float, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.window = window
        self.limit = limit
        self._open: dict[tuple[asyncio.AbstractEventLoop, str], _Group[T]] = {}

    async def run(self, key: str, send: Callable[[int], Awaitable[Sequence[T]]]) -> T:
        loop = asyncio.get_running_loop()
        slot = (loop, key)
        group = self._open.get(slot)
        if group is None:
            group = self._open[slot] = _Group()
            group.task = loop.create_task(self._send(slot, group, send))
        future: asyncio.Future[T] = loop.create_future()
        group.waiters.append(future)
        if len(group.waiters) >= self.limit:
            self._close(slot, group)  # full: later callers start a group of their own
        future.add_done_callback(lambda _: self._abandon_if_unwanted(group))
        return await future

    def _close(self, slot: tuple[asyncio.AbstractEventLoop, str], group: _Group[T]) -> None:
        if self._open.get(slot) is group:
            del self._open[slot]

    @staticmethod
    def _abandon_if_unwanted(group: _Group[T]) -> None:
        # Every caller gave up (cancelled): stop the request rather than compute for no one.
        if group.task is not None and not group.task.done() and all(w.cancelled() for w in group.waiters):
            group.task.cancel()

    async def _send(
        self,
        slot: tuple[asyncio.AbstractEventLoop, str],
        group: _Group[T],
        send: Callable[[int], Awaitable[Sequence[T]]],
    ) -> None:
        try:
            await asyncio.sleep(self.window)
        finally:
            self._close(slot, group)
        waiting = [waiter for waiter in group.waiters if not waiter.done()]
        if not waiting:
            return
        try:
            results = await send(len(waiting))
        except asyncio.CancelledError:
            for waiter in waiting:
                waiter.cancel()
            raise
        except Exception as error:  # each caller sees the failure (and its kernel may retry)
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        if len(results) != len(waiting):
            mismatch = RuntimeError(f"asked for {len(waiting)} results, got {len(results)}")
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_exception(mismatch)
            return
        for waiter, outcome in zip(waiting, results, strict=True):
            if not waiter.done():
                waiter.set_result(outcome)
