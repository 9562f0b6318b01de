"""Finding the final answer in a method's full answer text, the same way for every method.

The harness never trusts a method's own extractor: each checker reads the
method's whole answer with these rules, so two methods that say the same
thing get the same verdict.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
#: "final answer is", "final answer:", "answer: ", "the answer is", "answer =" (markdown emphasis allowed).
ANSWER_MARKER = re.compile(r"(?i:\b(?:final\s+answer|answer)\b[*_\s]*(?:is\b|[:=]))[*_\s:]*")
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)
# A span never contains its own opener, so an unclosed one costs one scan to the next opener, not to the end.
_MATH_SPAN = re.compile(
    r"\$\$((?:(?!\$\$).)+?)\$\$|\$([^$]+)\$|\\\(((?:(?!\\\().)+?)\\\)|\\\[((?:(?!\\\[).)+?)\\\]", re.DOTALL
)
MAX_SEGMENT_CHARS = 300  # what follows a final-answer phrase: a short answer, not the rest of a long line


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) that closes, nested braces included."""
    starts = [match.end() for match in _BOXED.finditer(text)]
    if not starts:
        return None
    closing = closing_braces(text)
    for start in reversed(starts):
        end = closing.get(start - 1)
        if end is not None:
            return text[start:end].strip()
    return None


def closing_braces(text: str) -> dict[int, int]:
    """For each ``{`` that is closed, the index of its ``}`` (one pass; escaped braces ``\\{`` do not count)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            stack.append(index)
        elif char == "}" and stack:
            pairs[stack.pop()] = index
        index += 1
    return pairs


def after_markers(text: str) -> list[str]:
    """What follows each final-answer marker, last marker first: the rest of its line
    (or the next non-empty line when the marker ends its line, as in ``**Answer:**\\n42``),
    at most :data:`MAX_SEGMENT_CHARS` characters."""
    segments: list[str] = []
    for match in reversed(list(ANSWER_MARKER.finditer(text))):
        segment = _line_at(text, match.end())
        if not segment.strip("*_ "):
            segment = _next_line(text, match.end())
        if segment:
            segments.append(segment)
    return segments


def _line_at(text: str, start: int) -> str:
    end = text.find("\n", start, start + MAX_SEGMENT_CHARS)
    return text[start : end if end >= 0 else start + MAX_SEGMENT_CHARS].strip()


def _next_line(text: str, start: int) -> str:
    """The first non-blank line after the one ``start`` is on."""
    position = text.find("\n", start)
    while position >= 0:
        line = _line_at(text, position + 1)
        if line:
            return line
        position = text.find("\n", position + 1)
    return ""


def last_math_span(text: str) -> str | None:
    """The content of the last ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]`` in ``text``."""
    spans = list(_MATH_SPAN.finditer(text))
    if not spans:
        return None
    last = spans[-1]
    return next(group for group in last.groups() if group is not None).strip()


def last_code_block(text: str) -> str:
    """The last ```` ```python ```` block, else the last fence without a language, else the whole text.

    A fence left open at the end (a reply cut by the token limit) runs to the end of the text.
    """
    blocks = [(language.lower(), code) for language, code in _FENCE.findall(text)]
    for wanted in (("python", "py", "python3"), ("",)):
        chosen = [code for language, code in blocks if language in wanted]
        if chosen:
            return str(chosen[-1])
    return text
