"""The one door every model call goes through."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from agorakit.kernel.clock import Clock, SystemClock
from agorakit.kernel.kernel import DEFAULT_CONCURRENCY, Kernel
from agorakit.kernel.pricing import PriceTable
from agorakit.kernel.retry import NO_RETRY, RetryPolicy
from agorakit.kernel.run import Budget, RunLedger
from agorakit.kernel.scheduling import CallQueue, QueueStats, SchedulingPolicy

if TYPE_CHECKING:
    from agorakit.kernel.manual_clock import ManualClock

_default: Kernel | None = None
_default_lock = threading.Lock()


def default_kernel() -> Kernel:
    """The process's shared kernel, so that every agent's calls to one backend
    share one queue. Pass ``kernel=`` to an agent to use another."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Kernel()
        return _default


def __getattr__(name: str) -> Any:
    # Loaded on first use: only tests need virtual time.
    if name == "ManualClock":
        from agorakit.kernel.manual_clock import ManualClock

        return ManualClock
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_CONCURRENCY",
    "NO_RETRY",
    "Budget",
    "CallQueue",
    "Clock",
    "Kernel",
    "ManualClock",
    "PriceTable",
    "QueueStats",
    "RetryPolicy",
    "RunLedger",
    "SchedulingPolicy",
    "SystemClock",
    "default_kernel",
]
