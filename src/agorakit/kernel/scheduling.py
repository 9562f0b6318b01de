"""Who calls a backend next when more calls wait than it serves at once.

A :class:`CallQueue` admits up to ``capacity`` calls to one backend (an
engine's slots, a provider's concurrency limit); the rest wait. When a place
frees, the queue's policy picks the next waiter:

- ``fifo``: the one that came first.
- ``round_robin``: the one whose agent was served least recently, so one chatty
  agent cannot starve the others (AIOS's round robin, per agent).
- ``priority``: the highest ``priority`` (a run's, see
  :class:`~agorakit.kernel.run.RunLedger`), first come first served among equals.
- ``fair``: the one whose run has been granted the fewest calls so far, so many
  runs sharing one engine progress evenly.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Literal, get_args

from agorakit.core.errors import ConfigError

SchedulingPolicy = Literal["fifo", "round_robin", "priority", "fair"]
POLICIES: tuple[str, ...] = get_args(SchedulingPolicy)


def check_policy(policy: str) -> SchedulingPolicy:
    """``policy`` if it is one of :data:`POLICIES`, else a :class:`ConfigError` naming them."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown scheduling policy {policy!r}", hint=f"use one of: {', '.join(POLICIES)}")
    return policy  # type: ignore[return-value]


@dataclass(slots=True, eq=False)
class _Waiter:
    seq: int
    agent: str | None
    run_id: str
    priority: int
    granted: asyncio.Future[None]


@dataclass(slots=True)
class QueueStats:
    """What one backend's queue has served: calls granted per agent and per run."""

    granted_by_agent: dict[str, int] = field(default_factory=dict)
    granted_by_run: dict[str, int] = field(default_factory=dict)
    waited_s: float = 0.0


class CallQueue:
    """Admits up to ``capacity`` calls at once (``None``: no limit); the policy orders the rest."""

    def __init__(self, capacity: int | None, policy: SchedulingPolicy = "fifo") -> None:
        check_policy(policy)
        if capacity is not None and capacity < 1:
            raise ConfigError(f"a call queue needs room for at least one call, not {capacity}")
        self.capacity = capacity
        self.policy = policy
        self.in_flight = 0
        self.stats = QueueStats()
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        self._last_served: dict[str | None, int] = {}  # agent → the grant number it last got
        self._grants = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self, *, agent: str | None = None, run_id: str = "", priority: int = 0) -> float:
        """Wait for a place; return the seconds waited. Cancelled while waiting, it leaves the queue."""
        if self.capacity is None or (self.in_flight < self.capacity and not self._waiting):
            self._grant(agent, run_id)
            return 0.0
        started = time.monotonic()
        waiter = _Waiter(next(self._seq), agent, run_id, priority, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        try:
            await waiter.granted
        except BaseException:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.release()  # granted as it was cancelled: pass the place on
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            raise
        waited = time.monotonic() - started
        self.stats.waited_s += waited
        return waited

    def release(self) -> None:
        """A call finished: its place goes to the waiter the policy picks."""
        self.in_flight -= 1
        while self._waiting and (self.capacity is None or self.in_flight < self.capacity):
            waiter = min(self._waiting, key=self._order)
            self._waiting.remove(waiter)
            if waiter.granted.done():  # cancelled while queued (its task has not run yet)
                continue
            self._grant(waiter.agent, waiter.run_id)
            waiter.granted.set_result(None)

    def _grant(self, agent: str | None, run_id: str) -> None:
        self.in_flight += 1
        self._last_served[agent] = next(self._grants)
        by_agent, by_run = self.stats.granted_by_agent, self.stats.granted_by_run
        name = agent or "-"
        by_agent[name] = by_agent.get(name, 0) + 1
        by_run[run_id] = by_run.get(run_id, 0) + 1

    def _order(self, waiter: _Waiter) -> tuple[int, ...]:
        if self.policy == "round_robin":
            return (self._last_served.get(waiter.agent, -1), waiter.seq)
        if self.policy == "priority":
            return (-waiter.priority, waiter.seq)
        if self.policy == "fair":
            return (self.stats.granted_by_run.get(waiter.run_id, 0), waiter.seq)
        return (waiter.seq,)
