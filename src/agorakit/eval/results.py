"""The benchmark results store: one SQLite row per sample and configuration.

A row is keyed by (dataset, sample id, method, config hash, model), never by
the question text, and is committed on its own as soon as the sample finishes,
so a run killed with ``kill -9`` loses at most the samples in flight and a
restarted run skips every key already here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from agorakit.core import settings
from agorakit.core.errors import ConfigError
from agorakit.eval.record import ResultKey, ResultRow

SCHEMA_KIND = "agorakit.bench.results"
SCHEMA_VERSION = 2  # 2: question and expected answer per row

_KEY_COLUMNS = ("dataset", "sample_id", "method", "config_hash", "model")
# Every ResultRow field but ``key``, in the order of the table's columns.
_ROW_COLUMNS = (
    "config",
    "status",
    "prediction",
    "extracted",
    "correct",
    "reason",
    "calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_s",
    "run_id",
    "error",
    "judge_correct",
    "judge_reason",
    "finished_at",
    "question",
    "expected",
)
# Columns added after version 1, with what older rows hold: ALTER TABLE adds them on open.
_ADDED_COLUMNS = {"question": "TEXT NOT NULL DEFAULT ''", "expected": "TEXT NOT NULL DEFAULT ''"}
COLUMNS = _KEY_COLUMNS + _ROW_COLUMNS

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    dataset TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    method TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    prediction TEXT NOT NULL,
    extracted TEXT,
    correct INTEGER NOT NULL,
    reason TEXT NOT NULL,
    calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    latency_s REAL NOT NULL,
    run_id TEXT NOT NULL,
    error TEXT NOT NULL,
    judge_correct INTEGER,
    judge_reason TEXT NOT NULL,
    finished_at REAL NOT NULL,
    question TEXT NOT NULL DEFAULT '',
    expected TEXT NOT NULL DEFAULT '',
    PRIMARY KEY ({", ".join(_KEY_COLUMNS)})
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '{SCHEMA_KIND}');
INSERT OR IGNORE INTO meta (key, value) VALUES ('version', '{SCHEMA_VERSION}');
"""

_INSERT = f"INSERT OR REPLACE INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def default_db_path() -> Path:
    """Where ``agora bench`` keeps results: ``$AGORAKIT_BENCH_DB`` or ``<home>/bench.db``."""
    return settings.bench_db_path()


class ResultsStore:
    """A benchmark results database (SQLite, WAL); use it as a context manager.

    Meant for one event loop in one process; two processes writing the same
    file wait on each other's transactions rather than fail.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every write is its own transaction, committed before write() returns.
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            self._open()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise ConfigError(
                f"{self.path} is not an agorakit results database ({error})",
                hint="point --db (or $AGORAKIT_BENCH_DB) at a new file or one `agora bench` wrote",
            ) from None
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            raise ConfigError(
                f"{self.path} is not an agorakit results database (it has tables {', '.join(sorted(tables))})",
                hint="point --db (or $AGORAKIT_BENCH_DB) at a new file or one `agora bench` wrote",
            )
        if tables:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("schema") != SCHEMA_KIND:
                raise ConfigError(
                    f"{self.path} is not an agorakit results database (its meta table says {meta.get('schema')!r})",
                    hint="point --db (or $AGORAKIT_BENCH_DB) at a new file or one `agora bench` wrote",
                )
            version = int(meta.get("version", "0"))
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path} was written by a newer agorakit (results schema {version}, "
                    f"this one reads {SCHEMA_VERSION})",
                    hint="upgrade agorakit, or use another --db file",
                )
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL survives a killed process
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a version-1 database up to this schema: old rows keep empty questions and answers."""
        present = {name for (_, name, *_) in self._db.execute("PRAGMA table_info(results)")}
        for name, declaration in _ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE results ADD COLUMN {name} {declaration}")
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(SCHEMA_VERSION),))

    # -- writing ---------------------------------------------------------------

    def write(self, row: ResultRow) -> None:
        """Insert ``row`` (replacing a row with its key) and commit it at once."""
        self._db.execute(_INSERT, _values(row))

    # -- reading ---------------------------------------------------------------

    def done_keys(self, *, include_errors: bool = True) -> set[ResultKey]:
        """The keys that have a row (only those with status ``ok`` unless ``include_errors``)."""
        query = f"SELECT {', '.join(_KEY_COLUMNS)} FROM results"
        if not include_errors:
            query += " WHERE status = 'ok'"
        return {ResultKey(*values) for values in self._db.execute(query)}

    def rows(
        self,
        datasets: Iterable[str] | None = None,
        methods: Iterable[str] | None = None,
        models: Iterable[str] | None = None,
    ) -> list[ResultRow]:
        """Rows, optionally only those of the given datasets, methods and models, in key order."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, wanted in (("dataset", datasets), ("method", methods), ("model", models)):
            if wanted is not None:
                values = list(wanted)
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "0")
                params.extend(values)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT {', '.join(COLUMNS)} FROM results{where} ORDER BY {', '.join(_KEY_COLUMNS)}"
        return [_row(values) for values in self._db.execute(query, params)]

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM results").fetchone()
        return int(count)

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _values(row: ResultRow) -> tuple[Any, ...]:
    key = row.key
    judged = None if row.judge_correct is None else int(row.judge_correct)
    return (
        key.dataset,
        key.sample_id,
        key.method,
        key.config_hash,
        key.model,
        row.config,
        row.status,
        row.prediction,
        row.extracted,
        int(row.correct),
        row.reason,
        row.calls,
        row.input_tokens,
        row.output_tokens,
        row.cost_usd,
        row.latency_s,
        row.run_id,
        row.error,
        judged,
        row.judge_reason,
        row.finished_at,
        row.question,
        row.expected,
    )


def _row(values: Sequence[Any]) -> ResultRow:
    key = ResultKey(*values[: len(_KEY_COLUMNS)])
    fields = dict(zip(_ROW_COLUMNS, values[len(_KEY_COLUMNS) :], strict=True))
    fields["correct"] = bool(fields["correct"])
    if fields["judge_correct"] is not None:
        fields["judge_correct"] = bool(fields["judge_correct"])
    return ResultRow(key=key, **fields)
