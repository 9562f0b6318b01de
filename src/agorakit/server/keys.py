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
from dataclasses import dataclass, replace
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

    @property
    def has_budget(self) -> bool:
        return self.max_calls is not None or self.max_tokens is not None or self.max_cost is not None

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


#: How long a looked-up key is trusted before it is read again (a revocation made by another
#: process takes effect within this); charges are written together at most this often.
KEY_CACHE_S = 1.0
FLUSH_S = 0.2


class KeyStore:
    """The keys of one agorakit home (``<home>/server.db``). Thread-safe.

    Looking a key up and charging it are on every request's path, so both stay in memory:
    a key read from disk is trusted for :data:`KEY_CACHE_S`, and charges are written to disk
    together within :data:`FLUSH_S` (and by :meth:`flush`, which the server calls when it stops).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._recent: dict[str, tuple[KeyRecord | None, float]] = {}
        self._pending: dict[str, tuple[int, int, float]] = {}
        self._timer: threading.Timer | None = None

    def close(self) -> None:
        self.flush()
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
        hashed = digest(key)
        now = time.monotonic()
        with self._lock:
            cached = self._recent.get(hashed)
            if cached is not None and now - cached[1] < KEY_CACHE_S:
                return cached[0]
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE digest = ? AND revoked IS NULL", (hashed,)
            ).fetchone()
            record = self._with_pending(KeyRecord(*row)) if row else None
            self._recent[hashed] = (record, now)
        return record

    def get(self, name: str) -> KeyRecord | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE name = ?", (name,)).fetchone()
            return self._with_pending(KeyRecord(*row)) if row else None

    def list(self) -> list[KeyRecord]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created").fetchall()
            return [self._with_pending(KeyRecord(*row)) for row in rows]

    def revoke(self, name: str) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE api_keys SET revoked = ? WHERE name = ? AND revoked IS NULL", (time.time(), name)
            )
            self._recent = {d: entry for d, entry in self._recent.items() if entry[0] is None or entry[0].name != name}
        return cursor.rowcount > 0

    def charge(self, name: str, usage: Usage) -> None:
        """Add one request's usage to what ``name`` has spent (one call per request)."""
        tokens = usage.input_tokens + usage.output_tokens
        with self._lock:
            calls, spent, cost = self._pending.get(name, (0, 0, 0.0))
            self._pending[name] = (calls + 1, spent + tokens, cost + usage.cost_usd)
            for hashed, (record, seen) in self._recent.items():
                # Only a key with a budget needs its spending in the cache, for the guard to check it.
                if record is not None and record.name == name and record.has_budget:
                    charged = replace(
                        record, calls=record.calls + 1, tokens=record.tokens + tokens, cost=record.cost + usage.cost_usd
                    )
                    self._recent[hashed] = (charged, seen)
            if self._timer is None:
                self._timer = threading.Timer(FLUSH_S, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write the charges not yet on disk."""
        with self._lock:
            self._timer = None
            pending, self._pending = self._pending, {}
            if pending:
                self._conn.executemany(
                    "UPDATE api_keys SET calls = calls + ?, tokens = tokens + ?, cost = cost + ? WHERE name = ?",
                    [(calls, tokens, cost, name) for name, (calls, tokens, cost) in pending.items()],
                )

    def _with_pending(self, record: KeyRecord) -> KeyRecord:
        calls, tokens, cost = self._pending.get(record.name, (0, 0, 0.0))
        if not calls:
            return record
        return replace(record, calls=record.calls + calls, tokens=record.tokens + tokens, cost=record.cost + cost)

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
