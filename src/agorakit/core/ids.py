"""Identifiers for runs, spans and tool calls.

Run ids sort by creation time (a millisecond timestamp prefix) so that
``agora trace list`` can order runs without a separate index.
"""

from __future__ import annotations

import os
import time


def new_run_id() -> str:
    """A 26-character id: 12 hex digits of milliseconds, 14 random hex digits."""
    return f"{int(time.time() * 1000):012x}{os.urandom(7).hex()}"


def new_span_id() -> str:
    """A 16-hex-digit span id, as OpenTelemetry uses."""
    return os.urandom(8).hex()


def new_call_id() -> str:
    return "call_" + os.urandom(6).hex()
