"""The one door every model call goes through."""

from __future__ import annotations

import threading

from agorakit.kernel.clock import Clock, ManualClock, SystemClock
from agorakit.kernel.kernel import DEFAULT_CONCURRENCY, Kernel
from agorakit.kernel.pricing import PriceTable
from agorakit.kernel.retry import NO_RETRY, RetryPolicy
from agorakit.kernel.run import Budget, RunLedger

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


__all__ = [
    "DEFAULT_CONCURRENCY",
    "NO_RETRY",
    "Budget",
    "Clock",
    "Kernel",
    "ManualClock",
    "PriceTable",
    "RetryPolicy",
    "RunLedger",
    "SystemClock",
    "default_kernel",
]
