"""The benchmark results store: one row per key, committed at once, and refusing foreign files."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from eval_rows import result_row

from agorakit.core.errors import ConfigError
from agorakit.eval.record import ResultKey, ResultRow
from agorakit.eval.results import COLUMNS, SCHEMA_VERSION, ResultsStore, default_db_path


def make_row(sample_id: str = "1", **changes: object) -> ResultRow:
    """A row with every field away from its default, so a lost column shows."""
    fields: dict[str, object] = {
        "config": '{"method":"cot"}',
        "prediction": "The answer is 42",
        "reason": "42 == 42",
        "calls": 2,
        "input_tokens": 30,
        "output_tokens": 7,
        "cost_usd": 0.0125,
        "latency_s": 1.5,
        "run_id": "run-1",
        "finished_at": 1700000000.25,
    }
    row = result_row("gsm8k", sample_id, "cot", "abc123", "scripted:x", **fields)
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


def test_every_result_row_field_has_a_column() -> None:
    key_fields = [f.name for f in dataclasses.fields(ResultKey)]
    row_fields = [f.name for f in dataclasses.fields(ResultRow) if f.name != "key"]
    assert list(COLUMNS) == key_fields + row_fields


def test_rows_round_trip_with_every_field(tmp_path: Path) -> None:
    rows = [
        make_row("1"),
        make_row("2", extracted=None, correct=False, judge_correct=True, judge_reason="same value"),
        make_row("3", status="error", error="ModelRequestError: bad", correct=False, judge_correct=False),
    ]
    with ResultsStore(tmp_path / "bench.db") as store:
        for row in rows:
            store.write(row)
    with ResultsStore(tmp_path / "bench.db") as store:  # reopened: the rows were committed
        assert store.rows() == rows
        assert len(store) == 3


def test_a_write_replaces_the_row_with_the_same_key(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "bench.db") as store:
        store.write(make_row("1", status="error", error="boom", correct=False))
        store.write(make_row("1", finished_at=1700000099.0))
        assert store.rows() == [make_row("1", finished_at=1700000099.0)]


def test_done_keys_with_and_without_errors(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "bench.db") as store:
        store.write(make_row("1"))
        store.write(make_row("2", status="error", error="boom", correct=False))
        one, two = (ResultKey("gsm8k", i, "cot", "abc123", "scripted:x") for i in ("1", "2"))
        assert store.done_keys() == {one, two}
        assert store.done_keys(include_errors=False) == {one}


def test_rows_filter_by_dataset_method_and_model(tmp_path: Path) -> None:
    other_method = make_row("1", key=ResultKey("gsm8k", "1", "vanilla", "fff000", "scripted:x"))
    other_dataset = make_row("1", key=ResultKey("math500", "1", "cot", "abc123", "scripted:x"))
    other_model = make_row("1", key=ResultKey("gsm8k", "1", "cot", "abc123", "scripted:y"))
    base = make_row("1")
    with ResultsStore(tmp_path / "bench.db") as store:
        for row in (other_method, other_dataset, other_model, base):
            store.write(row)
        assert store.rows(methods=["cot"], datasets=["gsm8k"], models=["scripted:x"]) == [base]
        assert store.rows(methods=["vanilla"]) == [other_method]
        assert {r.key.dataset for r in store.rows(datasets=["math500", "gsm8k"], models=["scripted:x"])} == {
            "gsm8k",
            "math500",
        }
        assert store.rows(models=[]) == []


def test_the_database_is_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "bench.db"
    ResultsStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    assert meta == {"schema": "agorakit.bench.results", "version": str(SCHEMA_VERSION)}


def test_a_file_that_is_not_sqlite_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text long enough " * 40)
    with pytest.raises(ConfigError, match="is not an agorakit results database"):
        ResultsStore(path)


def test_another_sqlite_database_is_a_config_error_naming_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE spans (id TEXT)")
    with pytest.raises(ConfigError, match=r"not an agorakit results database \(it has tables spans\)"):
        ResultsStore(path)
    with sqlite3.connect(path) as db:  # left as it was
        assert [name for (name,) in db.execute("SELECT name FROM sqlite_master")] == ["spans"]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bench.db"
    ResultsStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ConfigError, match="written by a newer agorakit"):
        ResultsStore(path)


def test_default_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGORAKIT_BENCH_DB", raising=False)
    monkeypatch.setenv("AGORAKIT_HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / "bench.db"
    monkeypatch.setenv("AGORAKIT_BENCH_DB", str(tmp_path / "elsewhere.db"))
    assert default_db_path() == tmp_path / "elsewhere.db"


# The results table as schema version 1 wrote it (no question, no expected answer).
_V1_TABLE = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', 'agorakit.bench.results'), ('version', '1');
CREATE TABLE results (
    dataset TEXT NOT NULL, sample_id TEXT NOT NULL, method TEXT NOT NULL, config_hash TEXT NOT NULL,
    model TEXT NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL, prediction TEXT NOT NULL, extracted TEXT,
    correct INTEGER NOT NULL, reason TEXT NOT NULL, calls INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, latency_s REAL NOT NULL, run_id TEXT NOT NULL,
    error TEXT NOT NULL, judge_correct INTEGER, judge_reason TEXT NOT NULL, finished_at REAL NOT NULL,
    PRIMARY KEY (dataset, sample_id, method, config_hash, model)
);
INSERT INTO results VALUES ('gsm8k', '7', 'cot', 'h1', 'scripted:a', '{}', 'ok', 'It is 42', '42', 1, '', 1,
    10, 5, 0.0, 1.5, 'run-old', '', NULL, '', 1700000000.0);
"""


def test_a_version_1_database_opens_reads_and_takes_new_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(_V1_TABLE)
    with ResultsStore(path) as store:
        (old,) = store.rows()
        assert (old.run_id, old.extracted, old.question, old.expected) == ("run-old", "42", "", "")
        new = make_row("8", question="What is 6 * 7?", expected="42")
        store.write(new)
        assert store.rows()[1] == new
    with closing(sqlite3.connect(path)) as db:
        assert dict(db.execute("SELECT key, value FROM meta").fetchall())["version"] == str(SCHEMA_VERSION) == "2"
