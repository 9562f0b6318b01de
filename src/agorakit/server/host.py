"""Running the app in this process with uvicorn: what ``agora serve`` and ``bench/serve.py`` run."""

from __future__ import annotations

import gc
import math
from typing import Any

#: The collector's first-generation threshold while serving (Python's default is 700).
YOUNG_OBJECTS = 50_000


def settle_heap() -> None:
    """Ready the collector for a long-lived server.

    Most of a server's heap is what importing it made (FastAPI, pydantic's schemas,
    the A2A and MCP SDKs: about 140,000 objects), and a request makes a few hundred
    short-lived ones. Freezing the first keeps full collections from walking it again;
    a larger first generation lets a request's objects die before a collection looks
    at them. Side by side at 10 clients (``bench/serve.py``'s server, 2026-12-07), freezing
    with a threshold of 10,000 took 5-9% off the p50 of whole answers and 2-3% off
    streams; 50,000 rather than 10,000 took another 8-12% off whole answers and 12-21%
    off streams. Cyclic garbage is still collected, in pauses of a few milliseconds.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, older, oldest)


def run_app(app: Any, *, host: str, port: int, grace_seconds: float = 10.0) -> None:
    """Serve ``app`` on ``host:port`` until SIGINT or SIGTERM; in-flight requests get
    ``grace_seconds`` to finish."""
    import uvicorn

    settle_heap()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=math.ceil(grace_seconds),
    )
