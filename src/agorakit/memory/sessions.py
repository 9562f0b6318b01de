"""Sessions: one conversation kept across an agent's runs, and across processes, in SQLite.

``agent.run(task, session="support-42")`` shows the model the session's
conversation before the task, and adds the run's messages to it afterwards.
When the conversation outgrows the model's context, its older turns are
replaced by a summary the model writes (:mod:`agorakit.memory.compaction`).
The file is ``$AGORAKIT_HOME/sessions.db`` (or ``$AGORAKIT_SESSIONS_DB``), WAL
mode, so several processes can use one session in turn.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agorakit.core import settings
from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id           TEXT PRIMARY KEY,
    summary      TEXT,
    summary_upto INTEGER NOT NULL DEFAULT 0,
    created      REAL NOT NULL,
    updated      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS session_messages (
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    run_id     TEXT,
    message    TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
"""


@dataclass(slots=True, frozen=True)
class Session:
    """A session to run in: its ``id``, and how it is compacted.

    ``max_tokens`` is how many tokens (estimated) of conversation the model is
    shown before older turns are summarised; ``None`` takes three quarters of the
    model's context window where the model says it (``n_ctx``), else 6000.
    ``keep`` is how many of the latest messages are always shown as they are.
    """

    id: str
    max_tokens: int | None = None
    keep: int = 6

    def __post_init__(self) -> None:
        if not self.id or not self.id.strip():
            raise ConfigError("a session needs a non-empty id, e.g. session='support-42'")
        if self.keep < 1:
            raise ConfigError(f"keep must be at least 1, got {self.keep}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {self.max_tokens}")


@dataclass(slots=True, frozen=True)
class Conversation:
    """What a session holds: the summary of its compacted turns, and the messages after them."""

    summary: str | None
    messages: list[Message]
    #: The seq of each message (for compaction: the summary covers seqs up to one of them).
    seqs: list[int]


@dataclass(slots=True, frozen=True)
class SessionInfo:
    id: str
    messages: int
    summarised: int
    created: float
    updated: float


class SessionStore:
    """The sessions file. Each method opens, uses and closes its own connection (short-lived,
    so another process is never locked out)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings.sessions_db_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        return conn

    def load(self, session_id: str) -> Conversation:
        conn = self._connect()
        try:
            row = conn.execute("SELECT summary, summary_upto FROM sessions WHERE id = ?", (session_id,)).fetchone()
            summary, upto = row if row is not None else (None, 0)
            rows = conn.execute(
                "SELECT seq, message FROM session_messages WHERE session_id = ? AND seq > ? ORDER BY seq",
                (session_id, upto),
            ).fetchall()
        finally:
            conn.close()
        return Conversation(summary, [Message.from_dict(json.loads(m)) for _, m in rows], [seq for seq, _ in rows])

    def append(self, session_id: str, messages: Sequence[Message], run_id: str | None) -> None:
        now = time.time()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO sessions (id, created, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated",
                (session_id, now, now),
            )
            (last,) = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM session_messages WHERE session_id = ?", (session_id,)
            ).fetchone()
            conn.executemany(
                "INSERT INTO session_messages VALUES (?, ?, ?, ?)",
                [(session_id, last + i, run_id, json.dumps(m.to_dict())) for i, m in enumerate(messages, 1)],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()

    def summarise(self, session_id: str, summary: str, upto: int) -> None:
        """Record ``summary`` as covering every message up to seq ``upto`` (they stay stored)."""
        now = time.time()
        conn = self._connect()
        try:
            conn.execute(
                "INSERT INTO sessions (id, summary, summary_upto, created, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET summary = excluded.summary, summary_upto = excluded.summary_upto, "
                "updated = excluded.updated",
                (session_id, summary, upto, now, now),
            )
        finally:
            conn.close()

    def list(self) -> list[SessionInfo]:
        if not self.path.exists():
            return []
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT s.id, count(m.seq), s.summary_upto, s.created, s.updated FROM sessions s "
                "LEFT JOIN session_messages m ON m.session_id = s.id GROUP BY s.id ORDER BY s.updated DESC"
            ).fetchall()
        finally:
            conn.close()
        return [SessionInfo(*row) for row in rows]

    def delete(self, session_id: str) -> bool:
        """Forget a session and its messages; False if there was none."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            gone = conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
            conn.execute("DELETE FROM session_messages WHERE session_id = ?", (session_id,))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return bool(gone)
