"""A block's wall-time deadline, which stops while the host runs a tool call for the block:
the time a tool takes on the host is not the code's."""

from __future__ import annotations

import time


class BlockClock:
    """A block's wall-time deadline, paused while the host runs a tool call for it."""

    def __init__(self, budget: float) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + budget
        self.paused_at: float | None = None
        self.cpu_s = 0.0
        self.cpu_total_s = 0.0  # the interpreter's lifetime CPU, for the RLIMIT_CPU backstop
        self.rss_mb = 0.0

    def pause(self) -> None:
        self.paused_at = time.monotonic()

    def resume(self) -> None:
        if self.paused_at is not None:
            self.deadline += time.monotonic() - self.paused_at
            self.paused_at = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()
