"""Where a run's data came from: the user's words and each tool output, labelled by trust.

A :class:`Provenance` is one run's record. The agent runner fills in the
user's turns (the task and the conversation's user messages) and makes the
record current with :class:`recording`; the tool dispatcher adds every tool
output it returns while a record is current, labelled with the tool's name
and the trust the policy gives that tool (``trusted`` or ``untrusted``). A
policy's ``source`` rules then ask :meth:`Provenance.find` where an argument's
value occurs.

**Occurs** means: the value's normalized token sequence (see
:mod:`agorakit.core.normalize`) appears as a contiguous run of the text's
normalized tokens. So ``GB29 NWBK 6016 1331 9268 19`` occurs in a text
holding ``GB29NWBK60161331926819``, ``1000.0`` in ``pay 1,000 EUR``, and
``https://example.com/`` in ``see example.com``; but ``100`` does not occur in
``1000``, nor ``mark@example.com`` in ``email Mark at example.com``. A value
with no tokens (``""``) occurs everywhere.

Speed: texts are indexed when first needed (recording is an append), once:
every run of up to :data:`INDEXED_TOKENS` tokens becomes a key of a hash
table per source, so finding a value of that many tokens or fewer is a few
dictionary lookups however much data the run has seen. A longer value is
looked for by scanning the normalized texts (linear in their size).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar, Token
from typing import Literal, NamedTuple

from agorakit.core.normalize import tokens

Trust = Literal["trusted", "untrusted"]
"""The trust a policy gives a tool's output. Only ``trusted`` output can vouch for a value."""
Source = Literal["user", "trusted"]
"""Where a ``source`` rule may require a value to come from."""
SOURCES: tuple[Source, ...] = ("user", "trusted")

INDEXED_TOKENS = 8
"""Values of at most this many tokens are found by hash lookups; longer ones by a scan."""

USER = "user"


class Finding(NamedTuple):
    """Where a value was found: ``where`` is ``user``, ``trusted``, ``untrusted`` or None (nowhere);
    ``tool`` names the tool whose output held it (first seen), for tool outputs."""

    where: str | None
    tool: str | None = None

    def describe(self) -> str:
        """``user``, ``trusted output of get_iban``, ``untrusted output of read_inbox`` or ``no source``."""
        if self.where is None:
            return "no source"
        if self.tool is None:
            return self.where
        return f"{self.where} output of {self.tool}"


NOWHERE = Finding(None)


class _Index:
    """The texts of one kind of source, indexed lazily: key (tokens joined by spaces) -> label."""

    __slots__ = ("keys", "pending", "texts")

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.pending: list[tuple[str, str]] = []
        self.texts: list[tuple[str, str]] = []  # (" token token ... ", label), for long values

    def add(self, text: str, label: str) -> None:
        self.pending.append((text, label))

    def find(self, key: str, size: int) -> str | None:
        """The label of the first text holding the ``size``-token sequence ``key``, or None."""
        if self.pending:
            self._index()
        if size <= INDEXED_TOKENS:
            return self.keys.get(key)
        needle = f" {key} "
        for joined, label in self.texts:
            if needle in joined:
                return label
        return None

    def _index(self) -> None:
        keys = self.keys
        setdefault = keys.setdefault
        for text, label in self.pending:
            words = tokens(text)
            self.texts.append((f" {' '.join(words)} ", label))
            count = len(words)
            for start in range(count):
                key = words[start]
                setdefault(key, label)
                for end in range(start + 1, min(start + INDEXED_TOKENS, count)):
                    key = f"{key} {words[end]}"
                    setdefault(key, label)
        self.pending.clear()


class Provenance:
    """One run's record of where data came from: the user's words and labelled tool outputs.

    ``user`` are the user's texts known at the start (a task, user turns).
    Thread-safe enough for one event loop (no awaits inside); share one
    record among the agents of one run, never between runs.
    """

    __slots__ = ("_trusted", "_untrusted", "_user", "outputs")

    def __init__(self, user: Iterable[str] = ()) -> None:
        self._user = _Index()
        self._trusted = _Index()
        self._untrusted = _Index()
        #: How many tool outputs were recorded, per trust.
        self.outputs: dict[Trust, int] = {"trusted": 0, "untrusted": 0}
        for text in [user] if isinstance(user, str) else user:
            self.add_user(text)

    @property
    def has_user(self) -> bool:
        """Whether any user text is recorded."""
        return bool(self._user.pending or self._user.texts)

    def add_user(self, text: str) -> None:
        """Record a text the user wrote (the task, a user turn)."""
        self._user.add(text, USER)

    def add_output(self, tool: str, text: str, trust: Trust) -> None:
        """Record a tool's output as the model (or code) saw it."""
        if trust == "trusted":
            self._trusted.add(text, tool)
        else:
            self._untrusted.add(text, tool)
        self.outputs[trust] += 1

    def find(self, words: Sequence[str], sources: Sequence[Source]) -> Finding:
        """Where the token sequence ``words`` occurs: the first of ``sources`` holding it, else
        (to explain the refusal) the untrusted output or other source holding it, else nowhere."""
        if not words:
            return Finding(sources[0] if sources else "user")
        key = words[0] if len(words) == 1 else " ".join(words)
        size = len(words)
        for source in sources:
            if source == "user":
                if self._user.find(key, size) is not None:
                    return Finding("user")
            else:
                tool = self._trusted.find(key, size)
                if tool is not None:
                    return Finding("trusted", tool)
        for source in SOURCES:
            if source not in sources:
                label = (self._user if source == "user" else self._trusted).find(key, size)
                if label is not None:
                    return Finding(source, None if source == "user" else label)
        tool = self._untrusted.find(key, size)
        return Finding("untrusted", tool) if tool is not None else NOWHERE

    def occurs(self, value: str, sources: Sequence[Source]) -> Finding:
        """:meth:`find` for a text value (normalized here)."""
        return self.find(tokens(value), sources)

    def __repr__(self) -> str:
        return (
            f"Provenance(user={len(self._user.pending) + len(self._user.texts)}, "
            f"trusted outputs={self.outputs['trusted']}, untrusted outputs={self.outputs['untrusted']})"
        )


_active: ContextVar[Provenance | None] = ContextVar("agorakit_provenance", default=None)


def active_provenance() -> Provenance | None:
    """The record of the run in progress in this task, if any."""
    return _active.get()


class recording:  # used like a function: ``with recording(provenance):``
    """Make ``provenance`` the current run's record: the dispatcher adds tool outputs to it and
    the policy's ``source`` rules look values up in it (tasks started inside inherit it)."""

    __slots__ = ("provenance", "token")
    token: Token[Provenance | None]

    def __init__(self, provenance: Provenance) -> None:
        self.provenance = provenance

    def __enter__(self) -> Provenance:
        self.token = _active.set(self.provenance)
        return self.provenance

    def __exit__(self, *exc: object) -> None:
        _active.reset(self.token)
