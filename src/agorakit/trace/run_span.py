"""The one scaffold every traced run (an agent's, a team's, a method's) is wrapped in."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from agorakit.core.errors import AgorakitError
from agorakit.trace.tracer import Span, Tracer


class traced_run:  # used like a function: ``with traced_run(...) as root``
    """The run's root span. A run that fails is flushed at once (it is exactly the
    one someone will inspect), and its error names the run's trace.

    A class rather than a generator context manager: it wraps every agent turn
    of a group chat, so its cost counts."""

    __slots__ = ("span", "tracer")

    def __init__(self, tracer: Tracer, name: str, attributes: dict[str, Any] | None) -> None:
        self.tracer = tracer
        self.span = tracer.span(name, attributes)

    def __enter__(self) -> Span:
        return self.span.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.span.__exit__(kind, error, traceback)
        if error is not None:
            self.tracer.flush(timeout=10.0)
            if isinstance(error, AgorakitError) and error.run_id is None and self.tracer.enabled:
                error.run_id = self.tracer.run_id
