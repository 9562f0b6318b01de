"""Settings read from the environment at the moment they are needed.

Nothing is cached at import: tests and long-lived processes can change the
environment and see the change.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL = "llamacpp:gemma-3-270m"


def home() -> Path:
    """agorakit's own folder: ``$AGORAKIT_HOME`` or ``~/.agorakit``."""
    return Path(os.environ.get("AGORAKIT_HOME") or Path.home() / ".agorakit")


def trace_db_path() -> Path:
    """The SQLite trace store: ``$AGORAKIT_TRACE_DB`` or ``<home>/traces.db``."""
    explicit = os.environ.get("AGORAKIT_TRACE_DB")
    return Path(explicit) if explicit else home() / "traces.db"


def journal_db_path() -> Path:
    """The journal of durable runs: ``$AGORAKIT_JOURNAL_DB`` or ``<home>/journal.db``."""
    explicit = os.environ.get("AGORAKIT_JOURNAL_DB")
    return Path(explicit).expanduser() if explicit else home() / "journal.db"


def sessions_db_path() -> Path:
    """The sessions of ``agent.run(..., session=...)``: ``$AGORAKIT_SESSIONS_DB`` or ``<home>/sessions.db``."""
    explicit = os.environ.get("AGORAKIT_SESSIONS_DB")
    return Path(explicit).expanduser() if explicit else home() / "sessions.db"


def bench_db_path() -> Path:
    """The ``agora bench`` results database: ``$AGORAKIT_BENCH_DB`` or ``<home>/bench.db``."""
    explicit = os.environ.get("AGORAKIT_BENCH_DB")
    return Path(explicit).expanduser() if explicit else home() / "bench.db"


def server_db_path() -> Path:
    """The API keys of ``agora serve``: ``$AGORAKIT_SERVER_DB`` or ``<home>/server.db``."""
    explicit = os.environ.get("AGORAKIT_SERVER_DB")
    return Path(explicit).expanduser() if explicit else home() / "server.db"


def model_cache_dir() -> Path:
    """Where the embedded model's GGUF is assembled."""
    explicit = os.environ.get("AGORAKIT_MODEL_CACHE")
    return Path(explicit) if explicit else home() / "models"


def default_model() -> str:
    return os.environ.get("AGORAKIT_MODEL") or DEFAULT_MODEL


def capture_content() -> bool:
    """Whether prompt and completion text go into the trace (on unless turned off)."""
    return os.environ.get("AGORAKIT_CAPTURE_CONTENT", "1").strip().lower() not in {"0", "false", "no", "off"}


def tracing_enabled() -> bool:
    return os.environ.get("AGORAKIT_TRACE", "1").strip().lower() not in {"0", "false", "no", "off"}


def cache_dir() -> Path:
    """Built artefacts shared by every agorakit home on the machine (the engine binary):
    ``$AGORAKIT_CACHE``, else ``$XDG_CACHE_HOME/agorakit``, else ``~/.cache/agorakit``."""
    explicit = os.environ.get("AGORAKIT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "agorakit"
