"""Majority voting over extracted answers, shared by ``self_consistency``,
``llm_debate`` and ``mad``.

Answers are compared after normalisation: surrounding whitespace, ``$`` and a
trailing ``.`` dropped, case folded, thousands commas removed, and numbers
compared by value (``"42"``, ``"42.0"`` and ``"42.00"`` are one answer).
Answers that could not be extracted (``None``) abstain. Ties go to the tied
answer whose first vote came earliest (the debate paper's official
``most_frequent`` does the same).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from agorakit.methods.answers import extract_answer

_VOTE_LINE = re.compile(r"^The answer is (.*) \((\d+) of (\d+) (?:samples|agents)\)$")
_NUMERIC = re.compile(r"^[-+]?\d+(?:\.\d*)?$|^[-+]?\.\d+$")


def normalize_answer(answer: str) -> str:
    """The key under which ``answer`` is counted in a vote."""
    text = answer.strip().strip("$").strip().rstrip(".").strip()
    compact = text.replace(",", "")
    if _NUMERIC.match(compact):
        try:
            value = Decimal(compact)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            return text.casefold()
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    return " ".join(text.casefold().split())


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    """The winner of a vote: its display form, its tally, and the number of valid votes."""

    answer: str
    votes: int
    valid: int
    tally: dict[str, int]


def majority_vote(answers: Sequence[str | None]) -> VoteOutcome | None:
    """A true majority vote over extracted ``answers`` (``None`` abstains).

    Ties go to the answer whose first vote came earliest. ``None`` when nobody voted.
    """
    counts: dict[str, int] = {}
    shown: dict[str, str] = {}
    for answer in answers:
        if answer is None or not answer.strip():
            continue
        key = normalize_answer(answer)
        if key not in counts:
            counts[key] = 0
            # Numbers are shown canonically; other answers as first written.
            shown[key] = key if _NUMERIC.match(key) else answer.strip()
        counts[key] += 1
    if not counts:
        return None
    # dicts keep insertion order, and max() returns the first maximal item: the earliest-sampled.
    winner = max(counts, key=lambda key: counts[key])
    return VoteOutcome(shown[winner], counts[winner], sum(counts.values()), {shown[k]: n for k, n in counts.items()})


def vote_text(outcome: VoteOutcome, voters: int, noun: str) -> str:
    return f"The answer is {outcome.answer} ({outcome.votes} of {voters} {noun})"


def read_vote_text(text: str, template: str = "") -> str | None:
    """The answer in a :func:`vote_text` line, or the generic extraction otherwise (``template``: see
    :func:`~agorakit.methods.answers.extract_answer`)."""
    match = _VOTE_LINE.match(text.strip())
    if match:
        return match.group(1)
    return extract_answer(text, template)
