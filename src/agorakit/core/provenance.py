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

A **date** value (an ISO date or date-time: ``2025-01-11``, ``2025-01-11 09:00``)
occurs where a text writes that day: in ISO form, or with a month name
(``January 11th 2025``, ``11th of January, 2025``); a day written without a
year (``January 11th``) stands for that day in any year. The time of day is
not compared (a user who asks for "a reminder on October 15th" leaves the
hour to the assistant). See :func:`agorakit.core.normalize.token_date_keys`.

Speed: texts are indexed when first needed (recording is an append), once:
every run of up to :data:`INDEXED_TOKENS` tokens becomes a key of a hash
table per source, so finding a value of that many tokens or fewer is a few
dictionary lookups however much data the run has seen. A longer value is
looked for by scanning the normalized texts (linear in their size).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar, Token
from typing import Literal

from agorakit.core.normalize import date_value, token_date_keys, tokens

Trust = Literal["trusted", "untrusted"]
"""The trust a policy gives a tool's output. Only ``trusted`` output can vouch for a value."""
Source = Literal["user", "trusted"]
"""Where a ``source`` rule may require a value to come from."""
SOURCES: tuple[Source, ...] = ("user", "trusted")

INDEXED_TOKENS = 8
"""Values of at most this many tokens are found by hash lookups; longer ones by a scan."""


class Finding:
    """Where a value was found: ``where`` is ``user``, ``trusted``, ``untrusted`` or None (nowhere);
    ``tool`` names the tool whose output held it (first seen), for tool outputs. Immutable;
    built once per label, so a lookup allocates nothing."""

    __slots__ = ("text", "tool", "where")

    def __init__(self, where: str | None, tool: str | None = None) -> None:
        self.where = where
        self.tool = tool
        if where is None:
            self.text = "no source"
        else:
            self.text = where if tool is None else f"{where} output of {tool}"

    def describe(self) -> str:
        """``user``, ``trusted output of get_iban``, ``untrusted output of read_inbox`` or ``no source``."""
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Finding) and (self.where, self.tool) == (other.where, other.tool)

    def __hash__(self) -> int:
        return hash((self.where, self.tool))

    def __repr__(self) -> str:
        return f"Finding({self.where!r}, {self.tool!r})"


NOWHERE = Finding(None)
FROM_USER = Finding("user")


class _Index:
    """The texts of one kind of source, indexed lazily: key (tokens joined by spaces) -> finding."""

    __slots__ = ("keys", "pending", "texts")

    def __init__(self) -> None:
        self.keys: dict[str, Finding] = {}
        self.pending: list[tuple[str, Finding]] = []
        self.texts: list[tuple[str, Finding]] = []  # (" token token ... ", finding), for long values

    def add(self, text: str, label: Finding) -> None:
        self.pending.append((text, label))

    def find(self, key: str, size: int) -> Finding | None:
        """Where the first text holding the ``size``-token sequence ``key`` came from, or None."""
        if self.pending:
            self.build()
        if size <= INDEXED_TOKENS:
            return self.keys.get(key)
        needle = f" {key} "
        for joined, label in self.texts:
            if needle in joined:
                return label
        return None

    def build(self) -> None:
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
            if count > 1:
                for key in token_date_keys(words):
                    setdefault(key, label)
        self.pending.clear()


class Provenance:
    """One run's record of where data came from: the user's words and labelled tool outputs.

    ``user`` are the user's texts known at the start (a task, user turns;
    one string is one text). Use it from the run's event loop (the
    dispatcher records on the loop, not in tool threads); share one record
    among the agents of one run, never between runs.
    """

    __slots__ = ("_labels", "_trusted", "_untrusted", "_user", "outputs")

    def __init__(self, user: Iterable[str] = ()) -> None:
        self._user = _Index()
        self._trusted = _Index()
        self._untrusted = _Index()
        #: How many tool outputs were recorded, per trust.
        self.outputs: dict[Trust, int] = {"trusted": 0, "untrusted": 0}
        self._labels: dict[tuple[Trust, str], Finding] = {}
        for text in [user] if isinstance(user, str) else user:
            self.add_user(text)

    @property
    def has_user(self) -> bool:
        """Whether any user text is recorded."""
        return bool(self._user.pending or self._user.texts)

    def add_user(self, text: str) -> None:
        """Record a text the user wrote (the task, a user turn)."""
        self._user.add(text, FROM_USER)

    def add_output(self, tool: str, text: str, trust: Trust) -> None:
        """Record a tool's output as the model (or code) saw it."""
        label = self._labels.get((trust, tool))
        if label is None:
            label = self._labels[(trust, tool)] = Finding(trust, tool)
        (self._trusted if trust == "trusted" else self._untrusted).add(text, label)
        self.outputs[trust] += 1

    def index(self) -> None:
        """Index every text recorded so far now (else the first lookup that needs it does)."""
        for index in (self._user, self._trusted, self._untrusted):
            if index.pending:
                index.build()

    def find(self, words: Sequence[str], sources: Sequence[Source]) -> Finding:
        """Where the token sequence ``words`` occurs: the first of ``sources`` holding it, else
        (to explain the refusal) the other source or untrusted output holding it, else nowhere."""
        if not words:
            return FROM_USER if not sources or sources[0] == "user" else Finding("trusted")
        key = words[0] if len(words) == 1 else " ".join(words)
        size = len(words)
        for source in sources:
            found = (self._user if source == "user" else self._trusted).find(key, size)
            if found is not None:
                return found
        for source in SOURCES:
            if source not in sources:
                found = (self._user if source == "user" else self._trusted).find(key, size)
                if found is not None:
                    return found
        found = self._untrusted.find(key, size)
        return found if found is not None else NOWHERE

    def occurs(self, value: str, sources: Sequence[Source]) -> Finding:
        """:meth:`find` for a text value (normalized here; a date value as its day, see above)."""
        day = date_value(value)
        if day is None:
            return self.find(tokens(value), sources)
        full, yearless = day
        found = self.find(full, sources)
        if found.where in sources:
            return found
        anyyear = self.find([yearless], sources)
        if anyyear.where in sources or found.where is None:
            return anyyear
        return found

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
