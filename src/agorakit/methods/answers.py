"""Pulling a final answer out of free text, the way multi-agent papers' harnesses do.

Rule order (the first that matches wins): the last ``\\boxed{...}``; an explicit
"final answer:" / "the answer is" phrase; the last number in the text
(commas in numbers removed). Otherwise the last non-empty line.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\boxed\{")
_PHRASE = re.compile(r"(?:final answer|the answer is|answer)\s*(?:is)?\s*[:=]?\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _last_boxed(text: str) -> str | None:
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    start = starts[-1]
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start:index].strip()
    return None


def _clean_number(raw: str) -> str:
    number = raw.replace(",", "")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return number


def extract_answer(text: str | None) -> str | None:
    """The final answer in ``text``, or ``None`` for empty text."""
    if not text or not text.strip():
        return None
    boxed = _last_boxed(text)
    if boxed:
        return boxed
    phrases = list(_PHRASE.finditer(text))
    if phrases:
        tail = phrases[-1].group(1).strip()
        numbers = _NUMBER.findall(tail.split("\n")[0])
        if numbers:
            return _clean_number(numbers[0])
        line = tail.split("\n")[0].strip().rstrip(".")
        if line:
            return line
    numbers = _NUMBER.findall(text)
    if numbers:
        return _clean_number(numbers[-1])
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None
