"""The SQLite file behind durable runs: one row per run, one row per recorded step.

A step is a model completion or a tool call (its start, then its result),
stored under a key the run derives from the step's content (see
:mod:`agorakit.kernel.journal`), with a CRC32 of its payload. Reading a run's
steps stops at the first record whose checksum fails, and drops it and
everything written after it: a journal cut by a power loss resumes from its
last complete record, never from garbage.

A run is held by one process at a time (its ``owner``): a second process
that tries to resume it while the owner is alive gets :class:`RunInUse`. An
owner on this machine is alive while its process is (checked through its pid
and start time); one on another machine while its heartbeat is recent.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorakit.core.errors import ResumeError, RunInUse

#: The journal's record format; a journal written with a higher one is refused.
FORMAT = 1
#: Seconds without a heartbeat after which an owner on another machine counts as gone.
LEASE_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    format      INTEGER NOT NULL,
    version     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    input       TEXT NOT NULL,
    durability  TEXT NOT NULL,
    status      TEXT NOT NULL,
    owner       TEXT,
    heartbeat   REAL NOT NULL,
    created     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    run_id   TEXT NOT NULL,
    key      TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    state    TEXT NOT NULL,
    payload  BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
"""


@dataclass(slots=True, frozen=True)
class RunRow:
    """A journaled run, as the store holds it."""

    run_id: str
    kind: str
    name: str
    format: int
    version: str
    fingerprint: dict[str, Any]
    input: dict[str, Any]
    durability: str
    status: str
    owner: str | None


@dataclass(slots=True, frozen=True)
class StepRow:
    key: str
    seq: int
    state: str
    payload: bytes


def this_process() -> str:
    """The owner name of this process: host, pid and the pid's start time (pids are reused)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_started(pid)}"


def owner_alive(owner: str, heartbeat: float) -> bool:
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return time.time() - heartbeat < LEASE_S
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return started == _started(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _started(pid) == started


def _started(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" where /proc is not there)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def checksum(payload: bytes) -> int:
    return zlib.crc32(payload)


class JournalStore:
    """One connection to the journal file. ``full_sync`` makes every commit survive a power
    loss (SQLite ``synchronous=FULL``); otherwise a commit survives the process being killed."""

    def __init__(self, path: Path, *, full_sync: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if full_sync else 'NORMAL'}")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # -- runs ------------------------------------------------------------------

    def create_run(
        self, run_id: str, *, kind: str, name: str, version: str, fingerprint: dict[str, Any],
        input: dict[str, Any], durability: str,
    ) -> None:  # fmt: skip
        now = time.time()
        try:
            self.conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, kind, name, FORMAT, version, json.dumps(fingerprint), json.dumps(input), durability,
                 this_process(), now, now),
            )  # fmt: skip
        except sqlite3.IntegrityError:
            raise ResumeError(
                f"run {run_id} is already in the journal", hint=f"resume it (agora resume {run_id}) or use a new run id"
            ) from None

    def run(self, run_id: str) -> RunRow | None:
        row = self.conn.execute(
            "SELECT run_id, kind, name, format, version, fingerprint, input, durability, status, owner "
            "FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        return RunRow(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), json.loads(row[6]), *row[7:])

    def claim(self, run_id: str) -> None:
        """Take ``run_id`` for this process; :class:`RunInUse` if a live process holds it."""
        me = this_process()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT owner, heartbeat FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise ResumeError(f"run {run_id} is not in the journal ({self.path})")
            owner, heartbeat = row
            if owner is not None and owner != me and owner_alive(owner, heartbeat):
                raise RunInUse(
                    f"run {run_id} is being run by another process ({owner})",
                    hint="wait for it to end, or stop that process first",
                )
            self.conn.execute(
                "UPDATE runs SET owner = ?, heartbeat = ?, status = 'running' WHERE run_id = ?",
                (me, time.time(), run_id),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def end_run(self, run_id: str, status: str) -> None:
        """Record how the run ended and let go of it."""
        self.conn.execute(
            "UPDATE runs SET status = ?, owner = NULL, heartbeat = ? WHERE run_id = ?", (status, time.time(), run_id)
        )

    def release(self, run_id: str) -> None:
        """Let go of a run that did not end (it can be resumed at once by another process)."""
        self.conn.execute("UPDATE runs SET owner = NULL WHERE run_id = ? AND owner = ?", (run_id, this_process()))

    # -- steps -----------------------------------------------------------------

    def write(self, run_id: str, steps: list[tuple[str, int, str, bytes]]) -> None:
        """Commit ``(key, seq, state, payload)`` records in one transaction."""
        rows = [(run_id, key, seq, state, payload, checksum(payload)) for key, seq, state, payload in steps]
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.conn.execute("UPDATE runs SET heartbeat = ? WHERE run_id = ?", (time.time(), run_id))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def steps(self, run_id: str) -> tuple[list[StepRow], int]:
        """The run's intact records in the order written, and how many damaged ones were dropped."""
        rows = self.conn.execute(
            "SELECT key, seq, state, payload, checksum FROM steps WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
        intact: list[StepRow] = []
        for key, seq, state, payload, crc in rows:
            if not isinstance(payload, bytes) or checksum(payload) != crc:
                # Everything from here on was written after the damage: never resume from it.
                self.conn.execute("DELETE FROM steps WHERE run_id = ? AND seq >= ?", (run_id, seq))
                return intact, len(rows) - len(intact)
            intact.append(StepRow(key, seq, state, payload))
        return intact, 0

    # -- approvals ---------------------------------------------------------------

    def pending_approvals(self, run_id: str) -> list[dict[str, Any]]:
        """The tool calls of ``run_id`` waiting for a decision: call id, tool, arguments, reason."""
        rows = self.conn.execute(
            "SELECT payload FROM steps WHERE run_id = ? AND key LIKE 'a:%' AND state = 'pending' ORDER BY seq",
            (run_id,),
        ).fetchall()
        return [json.loads(payload) for (payload,) in rows]

    def decide(self, run_id: str, call_id: str, *, approved: bool, by: str) -> dict[str, Any]:
        """Record a human's decision on a pending call (from any process); returns the call's record."""
        key = f"a:{call_id}"
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute(
                "SELECT state, payload FROM steps WHERE run_id = ? AND key = ?", (run_id, key)
            ).fetchone()
            if row is None or row[0] != "pending":
                pending = [item["call"]["id"] for item in self.pending_approvals(run_id)]
                raise ResumeError(
                    f"run {run_id} has no tool call {call_id} waiting for approval"
                    + (f" (it was {row[0]})" if row is not None else ""),
                    hint=f"calls waiting: {', '.join(pending)}"
                    if pending
                    else "nothing in this run waits for approval",
                )
            record = {**json.loads(row[1]), "decided_by": by}
            payload = json.dumps(record).encode()
            self.conn.execute(
                "UPDATE steps SET state = ?, payload = ?, checksum = ? WHERE run_id = ? AND key = ?",
                ("approved" if approved else "denied", payload, checksum(payload), run_id, key),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return record
