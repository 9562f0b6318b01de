"""The step journal of a durable run: every model completion and tool result, kept so a killed
run can be resumed without asking the model again or running a tool twice.

A step is keyed by what it is, not by when it came: a model call by a digest of
its model, agent and request, a tool call by its id, name and arguments, each
with the count of earlier identical steps. A resumed run executes its code again
from the start; each step whose key is recorded returns the recorded outcome at
once, and the first one that is not recorded is where real work starts again.
Content keys, unlike a step counter, do not depend on the order in which
concurrent agents' calls happened to finish.

Durability (LangGraph's names) says when records reach the disk:

- ``"sync"``: before the run moves on, each commit fsynced (survives a power loss);
- ``"async"``: a background thread commits them within ~50 ms (a kill may lose the
  last few, which a resume then recomputes);
- ``"exit"``: when the run ends or raises (a ``kill -9`` loses them all).

Whatever the mode, a side-effecting tool call's start is committed before the tool
runs: that record is what keeps a resume from running it twice silently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict
from functools import cache
from hashlib import blake2b
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import orjson

from agorakit.core import settings
from agorakit.core.errors import ConfigError, ResumeError
from agorakit.core.messages import Message, ToolCall
from agorakit.core.usage import Usage
from agorakit.models.base import Completion, ModelRequest, ToolSpec

if TYPE_CHECKING:  # sqlite3 and socket are imported by the first durable run, not by every agent
    from agorakit.trace.journal_store import JournalStore, RunRow, StepRow

Durability = Literal["sync", "async", "exit"]
ASYNC_LINGER_S = 0.05

_active: ContextVar[RunJournal | None] = ContextVar("agorakit_journal", default=None)


def check_durability(value: str) -> Durability:
    if value not in get_args(Durability):
        raise ConfigError(f"unknown durability {value!r}", hint="use 'sync', 'async' or 'exit'")
    return value  # type: ignore[return-value]


def active_journal() -> RunJournal | None:
    """The journal of the durable run in progress in this task, if any."""
    return _active.get()


@contextmanager
def journaling(journal: RunJournal | None) -> Iterator[None]:
    token = _active.set(journal)
    try:
        yield
    finally:
        _active.reset(token)


class ToolRecord:
    """A tool call as the journal holds it: started only, or with its result."""

    __slots__ = ("data", "state")

    def __init__(self, state: str, data: dict[str, Any]) -> None:
        self.state = state
        self.data = data

    @property
    def idempotency_key(self) -> str:
        return str(self.data["idempotency_key"])


class RunJournal:
    """The journal of one run, open in this process (see the module docstring)."""

    def __init__(
        self, store: JournalStore, row: RunRow, steps: list[StepRow], *, confirmed: frozenset[str] = frozenset(),
        resumed: bool = False,
    ) -> None:  # fmt: skip
        self.store = store
        #: Whether this is a resume (the run had been started by an earlier process or call).
        self.resumed = resumed
        self.run_id = row.run_id
        self.row = row
        self.durability: Durability = check_durability(row.durability)
        self.confirmed = confirmed
        self._recorded = {step.key: step for step in steps}
        self._seq = max((step.seq for step in steps), default=0)
        self._seen: dict[str, int] = {}
        self._chains: dict[str | None, list[tuple[Message, str | None, str | None, Any]]] = {}
        self._tool_digests: dict[tuple[int, ...], tuple[list[ToolSpec], str]] = {}
        self._pending: list[tuple[str, int, str, bytes]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._writer: threading.Thread | None = None
        #: Steps served from the journal in this process (model calls and tool calls).
        self.replayed = 0
        if self.durability == "async":
            self._writer = threading.Thread(target=self._drain, name=f"journal-{self.run_id}", daemon=True)
            self._writer.start()

    # -- opening ---------------------------------------------------------------

    @classmethod
    def start(
        cls, run_id: str, *, kind: str, name: str, fingerprint: dict[str, Any], input: dict[str, Any],
        durability: Durability, path: Path | None = None,
    ) -> RunJournal:  # fmt: skip
        """Journal a new run."""
        from agorakit.trace.journal_store import JournalStore

        store = JournalStore(path or settings.journal_db_path(), full_sync=durability == "sync")
        try:
            store.create_run(
                run_id, kind=kind, name=name, version=agorakit_version(), fingerprint=fingerprint, input=input,
                durability=durability,
            )  # fmt: skip
            row = store.run(run_id)
        except BaseException:
            store.close()
            raise
        assert row is not None
        return cls(store, row, [])

    @classmethod
    def resume(
        cls, run_id: str, *, fingerprint: dict[str, Any], force: bool = False, confirmed: frozenset[str] = frozenset(),
        path: Path | None = None,
    ) -> RunJournal:  # fmt: skip
        """Open a journaled run to go on with it, after checking it may be: its journal's format,
        the code and model it ran with (``force`` accepts a difference), and that no live process holds it."""
        from agorakit.trace.journal_store import FORMAT, JournalStore

        store = JournalStore(path or settings.journal_db_path())
        try:
            row = store.run(run_id)
            if row is None:
                raise ResumeError(
                    f"run {run_id} has no journal in {store.path}",
                    hint="only runs started with a durability setting (durability='sync', 'async' or 'exit') "
                    "can be resumed",
                )
            if row.format > FORMAT:
                raise ResumeError(
                    f"run {run_id} was journaled by agorakit {row.version} (journal format {row.format}); "
                    f"this is agorakit {agorakit_version()} (format {FORMAT})",
                    hint=f"resume it with agorakit {row.version} or newer",
                )
            differences = describe_differences(row.fingerprint, fingerprint)
            if differences and not force:
                raise ResumeError(
                    f"run {run_id} ran with other code or another model: {differences}",
                    hint="resume with the same agent and model, or pass force=True (--force) to go on anyway",
                )
            store.claim(run_id)
            steps, _dropped = store.steps(run_id)
        except BaseException:
            store.close()
            raise
        if row.durability == "sync":
            store.conn.execute("PRAGMA synchronous=FULL")
        return cls(store, row, steps, confirmed=confirmed, resumed=True)

    # -- keys ------------------------------------------------------------------

    def completion_key(self, model: str, agent: str | None, request: ModelRequest) -> str:
        data = {
            "model": model,
            "agent": agent,
            "messages": self._conversation_digest(agent, request.messages),
            "tools": self._tools_digest(request.tools),
            "tool_choice": request.tool_choice,
            "schema": request.response_schema,
            "sampling": asdict(request.sampling),
        }
        return self._occurrence("m", data)

    def _conversation_digest(self, agent: str | None, messages: list[Message]) -> str:
        """A digest of ``messages`` that hashes only what is new since this agent's last call: an
        agent's conversation grows at its end, so the hash state after each message it had already
        sent is kept and resumed from (a message changed in place since is hashed again)."""
        chain = self._chains.get(agent, [])
        same = 0
        for link, message in zip(chain, messages, strict=False):
            if link[0] is not message or link[1] is not message.content or link[2] is not message.name:
                break
            same += 1
        state = chain[same - 1][3].copy() if same else blake2b(digest_size=16)
        chain = chain[:same]
        for message in messages[same:]:
            state.update(orjson.dumps(message.to_dict(), option=orjson.OPT_SORT_KEYS, default=str))
            chain.append((message, message.content, message.name, state.copy()))
        self._chains[agent] = chain
        return state.hexdigest()

    def _tools_digest(self, tools: list[ToolSpec]) -> str:
        ids = tuple(id(spec) for spec in tools)
        known = self._tool_digests.get(ids)
        if known is None:
            data = [(spec.name, spec.description, spec.parameters) for spec in tools]
            digest = blake2b(orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str), digest_size=16)
            known = self._tool_digests[ids] = (list(tools), digest.hexdigest())  # the specs kept: ids stay theirs
        return known[1]

    def tool_key(self, call: ToolCall) -> str:
        return self._occurrence("t", (call.id, call.name, call.arguments))

    def _occurrence(self, kind: str, data: Any) -> str:
        digest = blake2b(orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str), digest_size=16).hexdigest()
        base = f"{kind}:{digest}"
        count = self._seen.get(base, 0)
        self._seen[base] = count + 1
        return f"{base}:{count}"

    # -- model calls -------------------------------------------------------------

    def recorded_completion(self, key: str) -> Completion | None:
        step = self._recorded.get(key)
        if step is None:
            return None
        data = orjson.loads(step.payload)
        self.replayed += 1
        return Completion(
            Message.from_dict(data["message"]), Usage(**data["usage"]), data["finish_reason"], data["model"]
        )

    def record_completion(self, key: str, completion: Completion) -> None:
        payload = {
            "message": completion.message.to_dict(),
            "usage": completion.usage.to_dict(),
            "finish_reason": completion.finish_reason,
            "model": completion.model,
        }
        self._write(key, "done", orjson.dumps(payload), now=False)

    # -- tool calls --------------------------------------------------------------

    def recorded_tool(self, key: str) -> ToolRecord | None:
        step = self._recorded.get(key)
        return ToolRecord(step.state, orjson.loads(step.payload)) if step is not None else None

    def tool_started(self, key: str, call: ToolCall, idempotency_key: str) -> None:
        """Commit that ``call`` is about to run (in every durability mode, before the tool runs)."""
        payload = {"call": call.to_dict(), "idempotency_key": idempotency_key}
        self._write(key, "started", orjson.dumps(payload), now=True)

    def tool_finished(self, key: str, call: ToolCall, idempotency_key: str, outcome: dict[str, Any]) -> None:
        payload = {"call": call.to_dict(), "idempotency_key": idempotency_key, **outcome}
        self._write(key, "done", orjson.dumps(payload), now=False)

    # -- values ----------------------------------------------------------------

    def recorded_value(self, name: str) -> Any:
        """A value the run recorded under ``name`` (what it read from outside: a session's
        conversation), or ``None``: a resume uses it rather than reading again."""
        step = self._recorded.get(f"v:{name}")
        return orjson.loads(step.payload) if step is not None else None

    def record_value(self, name: str, value: Any) -> None:
        self._write(f"v:{name}", "done", orjson.dumps(value, default=str), now=False)

    # -- approvals ---------------------------------------------------------------

    def approval(self, call_id: str) -> bool | None:
        """The decision another process recorded on ``call_id`` (``None``: none yet)."""
        step = self._recorded.get(approval_key(call_id))
        if step is None or step.state == "pending":
            return None
        return step.state == "approved"

    def request_approval(self, call: ToolCall, arguments: dict[str, Any], reason: str) -> None:
        """Record that ``call`` waits for a human's decision (committed now, in every mode)."""
        payload = {"call": call.to_dict(), "tool": call.name, "arguments": arguments, "reason": reason}
        self._write(approval_key(call.id), "pending", orjson.dumps(payload, default=str), now=True)

    # -- writing ---------------------------------------------------------------

    def _write(self, key: str, state: str, payload: bytes, *, now: bool) -> None:
        with self._lock:
            self._seq += 1
            self._pending.append((key, self._seq, state, payload))
            if now or self.durability == "sync":
                self._commit_pending()
            elif self.durability == "async":
                self._wake.set()

    def _commit_pending(self) -> None:
        """Write what is pending (the lock held)."""
        if self._pending:
            batch, self._pending = self._pending, []
            self.store.write(self.run_id, batch)

    def _drain(self) -> None:
        while not self._closed:
            self._wake.wait()
            if self._closed:
                return
            self._wake.clear()
            time.sleep(ASYNC_LINGER_S)  # gather what a burst of steps writes
            with self._lock:
                if not self._closed:
                    self._commit_pending()

    def flush(self) -> None:
        """Commit every record still pending (``async`` and ``exit`` modes)."""
        with self._lock:
            self._commit_pending()

    def finish(self, status: str) -> None:
        """The run ended (``status`` is its stop reason): commit what is pending and let go of it."""
        self._close(status)

    def abandon(self) -> None:
        """The run did not end (it raised, or was cancelled): commit what is pending, let go of it."""
        self._close(None)

    def _close(self, status: str | None) -> None:
        if self._closed:
            return
        with self._lock:
            self._commit_pending()
            self._closed = True
            self._wake.set()
            if status is None:
                self.store.release(self.run_id)
            else:
                self.store.end_run(self.run_id, status)
        if self._writer is not None:
            self._writer.join()
        self.store.close()


def approval_key(call_id: str) -> str:
    return f"a:{call_id}"


def pending_approvals(run_id: str, *, path: Path | None = None) -> list[dict[str, Any]]:
    """The tool calls of a paused durable run that wait for a human: each with its ``call``
    (id, name, arguments), ``tool``, the ``arguments`` its policy judged, and the ``reason``."""
    from agorakit.trace.journal_store import JournalStore

    store = JournalStore(path or settings.journal_db_path(), full_sync=False)
    try:
        return store.pending_approvals(run_id)
    finally:
        store.close()


def decide(
    run_id: str, *, approved: bool, call_id: str | None = None, by: str = "api", path: Path | None = None
) -> dict[str, Any]:
    """Approve or deny a tool call a paused durable run waits on, from any process. ``call_id``
    may be left out when one call waits. The run goes on when it is resumed: an approved call
    runs, a denied one stops the run (the denial is in its trace)."""
    from agorakit.trace.journal_store import JournalStore

    store = JournalStore(path or settings.journal_db_path())
    try:
        if call_id is None:
            waiting = [item["call"]["id"] for item in store.pending_approvals(run_id)]
            if len(waiting) != 1:
                raise ResumeError(
                    f"run {run_id} has {len(waiting) or 'no'} tool calls waiting for approval"
                    + (f": {', '.join(waiting)}" if waiting else ""),
                    hint="name the call (call_id=... / --call)" if waiting else "check the run id",
                )
            call_id = waiting[0]
        return store.decide(run_id, call_id, approved=approved, by=by)
    finally:
        store.close()


@cache
def agorakit_version() -> str:
    """The installed agorakit's version (read once: ``import agorakit`` here would be a cycle)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agorakit")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def describe_differences(recorded: dict[str, Any], now: dict[str, Any]) -> str:
    """The fingerprint entries that differ, named (``""`` when none do)."""
    names = sorted(set(recorded) | set(now))
    return "; ".join(
        f"{name}: {_short(recorded.get(name))} then, {_short(now.get(name))} now"
        for name in names
        if recorded.get(name) != now.get(name)
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
