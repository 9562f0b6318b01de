"""Pulling a final answer out of free text, the way multi-agent papers' harnesses do.

Rule order (the first that matches wins): the last ``\\boxed{...}``; an explicit
"final answer:" / "the answer is" / "answer:" phrase (the last usable one); the
last number in the text (commas in numbers removed). Otherwise the last
usable non-empty line.

A candidate copied from the instructions is never the answer: one holding an
angle-bracket placeholder (``<answer>``, small models echo the format line
``The answer is <answer>``), one with no letter or digit, or one of several
words found verbatim in the method's instruction ``template``. The reader
then falls back to the next candidate or rule.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\boxed\{")
# A bare "answer" needs "is", ":" or "=" after it: "your answer on the test" states nothing.
_PHRASE = re.compile(r"\b(?:final answer\s*(?:is\b)?\s*[:=]?|answer\s*(?:is\b\s*[:=]?|[:=]))\s*(.+)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<[A-Za-z][\w \-]*>")
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


def is_template_text(candidate: str, template: str = "") -> bool:
    """Whether ``candidate`` is copied from the instructions rather than an answer (see the module doc)."""
    if not any(char.isalnum() for char in candidate) or _PLACEHOLDER.search(candidate):
        return True
    words = candidate.strip(" \t\"'.").split()
    # One word ("Paris", "B") may well occur in a template by chance; several words do not.
    return len(words) >= 2 and " ".join(words).lower() in " ".join(template.split()).lower()


def extract_answer(text: str | None, template: str = "") -> str | None:
    """The final answer in ``text``, or ``None`` for empty text.

    ``template`` is the instruction text the method sent (its format line,
    fixed prompt parts): several-word candidates found in it are skipped.
    """
    if not text or not text.strip():
        return None
    boxed = _last_boxed(text)
    if boxed and not is_template_text(boxed, template):
        return boxed
    for phrase in reversed(list(_PHRASE.finditer(text))):
        tail = phrase.group(1).strip().split("\n")[0]
        if is_template_text(tail, template):
            continue
        numbers = _NUMBER.findall(tail)
        if numbers:
            return _clean_number(numbers[0])
        line = tail.strip().rstrip(".")
        if line:
            return line
    numbers = _NUMBER.findall(text)
    if numbers:
        return _clean_number(numbers[-1])
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # A line with an answer phrase was the phrase rule's to read: here it is only what it skipped.
    usable = [line for line in lines if not is_template_text(line, template) and not _PHRASE.search(line)]
    return usable[-1] if usable else None
