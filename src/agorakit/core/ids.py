"""Identifiers for runs, spans and tool calls.

Run ids sort by creation time (a millisecond timestamp prefix) so that
``agora trace list`` can order runs without a separate index.
"""

from __future__ import annotations

import random
import time

# The random module's generator is reseeded in a forked child, so ids stay
# unique across worker processes; it is much cheaper than os.urandom.


def new_run_id() -> str:
    """A 26-character id: 12 hex digits of milliseconds, 14 random hex digits."""
    return f"{time.time_ns() // 1_000_000:012x}{random.getrandbits(56):014x}"


def new_span_id() -> str:
    """A 16-hex-digit span id, as OpenTelemetry uses."""
    return f"{random.getrandbits(64):016x}"


def new_call_id() -> str:
    return f"call_{random.getrandbits(48):012x}"
