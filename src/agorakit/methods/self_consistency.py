"""Self-consistency (Wang et al., "Self-Consistency Improves Chain of Thought
Reasoning in Language Models", ICLR 2023).

Algorithm: sample ``k`` chain-of-thought completions of the same prompt at a
temperature above zero, extract the final answer from each, and return the
answer most samples agree on (a plain, unweighted majority vote: the paper's
best and default aggregation, section 2 / table 1).

Voting rules, used here and by ``llm_debate``:

* answers are compared after normalisation: surrounding whitespace, ``$`` and a
  trailing ``.`` dropped, case folded, thousands commas removed, and numbers
  compared by value (``"42"``, ``"42.0"`` and ``"42.00"`` are one answer);
* samples from which no answer can be extracted do not vote;
* ties go to the tied answer that was sampled first (sample order is the order
  the samples were launched, not the order they finished). This is also what
  the debate paper's official ``most_frequent`` does.

The method's text is ``"The answer is 42 (3 of 5 samples)"``; ``extract``
reads the voted answer back from that line.

Where agorakit deliberately differs from the paper:

* ``samples`` defaults to 5, not the paper's 40: most of the gain appears in
  the first handful of paths (the paper's figure 2 curves rise steeply up to
  about 5-10 and flatten after), and 40 calls per question is impractical on
  the embedded CPU model. Set ``samples=40`` for the paper's setting.
* The paper prompts with few-shot exemplars; we use the zero-shot chain-of-thought
  instruction of the ``cot`` method so the method works on any task, and so the
  comparison with ``cot`` isolates the effect of sampling and voting.
* Temperature 0.7 (the paper's setting for PaLM and GPT-3); the paper's
  additional top-k 40 truncation is not applied (not every backend offers it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.answers import extract_answer
from agorakit.methods.base import Method
from agorakit.methods.cot import INSTRUCTION
from agorakit.methods.session import Session

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


def read_vote_text(text: str) -> str | None:
    """The answer in a :func:`vote_text` line, or the generic extraction otherwise."""
    match = _VOTE_LINE.match(text.strip())
    if match:
        return match.group(1)
    return extract_answer(text)



@dataclass(frozen=True)
class SelfConsistencyConfig:
    """``samples`` chains (paper: 40), each sampled at ``temperature`` (paper: 0.7)."""

    samples: int = 5
    temperature: float = 0.7
    max_tokens: int | None = None


class SelfConsistency(Method):
    """k sampled chains of thought, answers extracted, majority vote."""

    name = "self_consistency"
    summary = "Samples several chains of thought and returns the majority-vote answer."
    paper = "Wang et al., Self-Consistency Improves Chain of Thought Reasoning in Language Models, ICLR 2023"
    Config = SelfConsistencyConfig

    async def solve(self, task: str, session: Session) -> str:
        samples = self.config.samples
        if samples < 1:
            raise ConfigError("self_consistency: samples must be at least 1")
        sampling = session.sampling_with(self.config.temperature, self.config.max_tokens)
        prompt = [Message("system", INSTRUCTION), Message("user", task)]
        texts = await asyncio.gather(
            *(session.chat(f"sampler_{index + 1}", prompt, sampling=sampling) for index in range(samples))
        )
        outcome = majority_vote([extract_answer(text) for text in texts])
        if outcome is None:
            return ""
        return vote_text(outcome, samples, "samples")

    def extract(self, answer: str) -> str | None:
        return read_vote_text(answer)
