"""Memory: conversations kept across runs and processes (sessions), and their compaction."""

from agorakit.memory.sessions import Session, SessionStore

__all__ = ["Session", "SessionStore"]
