"""The text of a JSON answer as it is generated: ``{"answer": "Paris is..."}`` streams as ``Paris is...``.

The embedded model answers through a grammar as a JSON object; a streamed
run should show the answer's words as they come, not JSON syntax, and
nothing at all while the model writes a tool call.
"""

from __future__ import annotations

import contextlib
import re

_PREFIX = re.compile(r'\s*\{\s*"answer"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class AnswerDeltas:
    """Feed it the raw generated text piece by piece; it returns the answer text each piece adds."""

    def __init__(self) -> None:
        self.raw = ""
        self.position = -1  # where the answer string's unread characters start; -1 before the prefix
        self.done = False

    def feed(self, piece: str) -> str:
        self.raw += piece
        if self.done:
            return ""
        if self.position < 0:
            match = _PREFIX.match(self.raw)
            if match is None:
                return ""
            self.position = match.end()
        out: list[str] = []
        raw, i = self.raw, self.position
        while i < len(raw):
            char = raw[i]
            if char == '"':
                self.done = True
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(raw):
                break  # the escape's second half has not come yet
            code = raw[i + 1]
            if code == "u":
                if i + 6 > len(raw):
                    break
                with contextlib.suppress(ValueError):  # not four hex digits: leave it out
                    out.append(chr(int(raw[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(code, code))
            i += 2
        self.position = i
        return "".join(out)
