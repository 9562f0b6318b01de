"""The one scaffold every traced run (an agent's, a team's, a method's) is wrapped in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agorakit.core.errors import AgorakitError
from agorakit.trace.tracer import Span, Tracer


@contextmanager
def traced_run(tracer: Tracer, name: str, attributes: dict[str, Any] | None) -> Iterator[Span]:
    """The run's root span. A run that fails is flushed at once (it is exactly the
    one someone will inspect), and its error names the run's trace."""
    try:
        with tracer.span(name, attributes) as span:
            yield span
    except BaseException as error:
        tracer.flush(timeout=10.0)
        if isinstance(error, AgorakitError) and error.run_id is None and tracer.enabled:
            error.run_id = tracer.run_id
        raise
