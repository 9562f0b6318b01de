"""Capped capture of one output stream of the sandboxed interpreter.

The interpreter's stdout and stderr are pipes the host drains all the time,
so neither side ever blocks on a full pipe and raw ``os.write(1, ...)`` from
the code (or from processes it starts) is captured too, in order with
``print``. At the end of a block the runner writes a per-block token to both
streams; bytes before the token belong to the block, bytes after it (from
background processes) to the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class OutputCapture:
    """Keeps the first ``cap`` bytes a block writes to one stream and counts the rest.

    ``on_flood`` is called once per block when the block has written more
    than ``flood`` bytes: the host then kills the interpreter.
    """

    __slots__ = ("_flood", "_flooded", "_hold", "_kept", "_on_flood", "_pending", "_token", "cap", "ended", "total")

    def __init__(self, cap: int, flood: int, on_flood: Callable[[], None]) -> None:
        self.cap = cap
        self._flood = flood
        self._on_flood = on_flood
        self._kept = bytearray()
        self._pending = bytearray()  # written between blocks; shown with the next one
        self._hold = b""  # the last bytes, held back in case they start the token
        self._token: bytes | None = None
        self._flooded = False
        self.total = 0
        self.ended = asyncio.Event()

    def begin(self, token: bytes) -> None:
        """Start a block that will end with ``token``."""
        self._kept = bytearray()
        self._hold = b""
        self.total = 0
        self._flooded = False
        self.ended.clear()
        self._token = token
        pending, self._pending = bytes(self._pending), bytearray()
        self._emit(pending)

    def feed(self, data: bytes) -> None:
        token = self._token
        if token is None:  # between blocks
            room = self.cap - len(self._pending)
            if room > 0:
                self._pending += data[:room]
            return
        window = self._hold + data
        index = window.find(token)
        if index >= 0:
            self._hold = b""
            self._emit(window[:index])
            self._token = None
            self.ended.set()
            self.feed(window[index + len(token) :])
            return
        keep = len(token) - 1
        self._hold = window[-keep:] if len(window) > keep else window
        self._emit(window[: len(window) - len(self._hold)])

    def close(self) -> None:
        """The stream ended (the interpreter died): what was held back belongs to the block."""
        if self._token is not None:
            self._emit(self._hold)
            self._hold = b""
        self.ended.set()

    def pending_text(self) -> str:
        """What was written outside any block (e.g. an interpreter's start-up errors)."""
        return bytes(self._pending).decode("utf-8", errors="replace")

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    def text(self) -> str:
        """What the block wrote, cut at ``cap`` bytes with a marker saying how much more there was."""
        text = bytes(self._kept).decode("utf-8", errors="replace")
        if self.total > self.cap:
            text += f"\n...[output truncated: {self.total - self.cap} more bytes of {self.total} not shown]"
        return text

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        room = self.cap - len(self._kept)
        if room > 0:
            self._kept += data[:room]
        if self.total > self._flood and not self._flooded:
            self._flooded = True
            self._on_flood()
