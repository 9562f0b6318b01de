"""Events named with OpenTelemetry GenAI conventions, the SQLite store, export."""

from agorakit.trace.tracer import MemorySink, NullSink, Span, Tracer, TraceSink, current_span

# The store, reader and export live in their own modules (agorakit.trace.store,
# .reader, .export) so that importing the tracer stays free of sqlite and json work.
__all__ = ["MemorySink", "NullSink", "Span", "TraceSink", "Tracer", "current_span"]
