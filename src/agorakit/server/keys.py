"""API keys: stored hashed in SQLite, each with optional limits and what it has spent.

A key is shown once, when it is created (``agora keys create``); the store
keeps its SHA-256 only. Limits per key: ``rpm`` requests a minute (a token
bucket, in memory) and a budget of calls, tokens and cost (on disk, so it
holds across restarts and across processes serving one home).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agorakit.core.usage import Usage

KEY_PREFIX = "ak-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked REAL,
    rpm INTEGER,
    max_calls INTEGER,
    max_tokens INTEGER,
    max_cost REAL,
    calls INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0
);
"""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key's name, limits and spending (never the key itself)."""

    name: str
    created: float
    revoked: float | None = None
    rpm: int | None = None
    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    calls: int = 0
    tokens: int = 0
    cost: float = 0.0

    def over_budget(self) -> str | None:
        """Which budget is spent, or None."""
        if self.max_calls is not None and self.calls >= self.max_calls:
            return f"its budget of {self.max_calls} calls is spent"
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"its budget of {self.max_tokens} tokens is spent"
        if self.max_cost is not None and self.cost >= self.max_cost:
            return f"its budget of ${self.max_cost:g} is spent"
        return None


_COLUMNS = "name, created, revoked, rpm, max_calls, max_tokens, max_cost, calls, tokens, cost"


class KeyStore:
    """The keys of one agorakit home (``<home>/server.db``). Thread-safe."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def create(
        self,
        name: str,
        *,
        rpm: int | None = None,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
    ) -> str:
        """A new key named ``name``; returns the key (the only time it is seen)."""
        if not name.strip():
            raise ValueError("a key needs a name")
        for label, value in (
            ("rpm", rpm),
            ("max_calls", max_calls),
            ("max_tokens", max_tokens),
            ("max_cost", max_cost),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO api_keys (name, digest, created, rpm, max_calls, max_tokens, max_cost)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, digest(key), time.time(), rpm, max_calls, max_tokens, max_cost),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a key named {name!r} exists already") from None
        return key

    def lookup(self, key: str) -> KeyRecord | None:
        """The live (not revoked) key ``key`` names, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE digest = ? AND revoked IS NULL", (digest(key),)
            ).fetchone()
        return KeyRecord(*row) if row else None

    def get(self, name: str) -> KeyRecord | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE name = ?", (name,)).fetchone()
        return KeyRecord(*row) if row else None

    def list(self) -> list[KeyRecord]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created").fetchall()
        return [KeyRecord(*row) for row in rows]

    def revoke(self, name: str) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE api_keys SET revoked = ? WHERE name = ? AND revoked IS NULL", (time.time(), name)
            )
        return cursor.rowcount > 0

    def charge(self, name: str, usage: Usage) -> None:
        """Add one request's usage to what ``name`` has spent (one call per request)."""
        with self._lock:
            self._conn.execute(
                "UPDATE api_keys SET calls = calls + 1, tokens = tokens + ?, cost = cost + ? WHERE name = ?",
                (usage.input_tokens + usage.output_tokens, usage.cost_usd, name),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM api_keys WHERE revoked IS NULL").fetchone()[0])


class RateLimiter:
    """Requests per minute per key: a token bucket of ``rpm`` tokens refilled continuously."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._now = time.monotonic

    def take(self, name: str, rpm: int) -> float:
        """Take one request; returns 0 when allowed, else the seconds until one is."""
        now = self._now()
        rate = rpm / 60.0
        with self._lock:
            tokens, last = self._buckets.get(name, (float(rpm), now))
            tokens = min(float(rpm), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / rate
