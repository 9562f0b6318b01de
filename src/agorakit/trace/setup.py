"""Choosing where a run's trace goes, from one option value."""

from __future__ import annotations

from pathlib import Path

from agorakit.core import settings
from agorakit.core.ids import new_run_id
from agorakit.trace.tracer import NullSink, Tracer, TraceSink

TraceOption = TraceSink | str | Path | bool | None
_NO_SINK = NullSink()


def tracer_for(option: TraceOption, run_id: str | None = None) -> Tracer:
    """A new run's tracer: ``None`` follows the settings (on, to the default
    store), ``False`` turns tracing off, ``True`` or a path picks a SQLite
    store, and any sink object is used as it is. ``run_id`` is the run's id
    (a new one by default)."""
    run_id = run_id or new_run_id()
    if option is False or (option is None and not settings.tracing_enabled()):
        return Tracer(run_id, _NO_SINK, capture_content=False)
    sink: TraceSink
    if option is None or option is True or isinstance(option, str | Path):
        from agorakit.trace.store import open_store

        sink = open_store(settings.trace_db_path() if option is None or option is True else option)
    else:
        sink = option
    return Tracer(run_id, sink, capture_content=settings.capture_content())
