"""Steering a small model through JSON strings: open them cleanly, end them on time.

Habits of a 270M base model under a grammar when it calls tools and answers
their results (the llamacpp backend steers only those steps), fixed here
without taking a choice the grammar leaves to the model away from it:

- **Ending.** It copies a value well ("173", "-40 F", "Tokyo") but rarely
  closes the string after it: where its text would end, its most likely next
  token is noise (" čp", "$$", " denaro"), which the grammar lets into the
  string, and the noise grows ("173.4555…" until ``max_tokens``). The signal
  is there, though: at the end of a value the model is unsure (its top token
  has less than :data:`UNSURE_BELOW` of the probability), while in the middle
  of a copy it is confident. That uncertainty becomes a closing quote; the
  grammar still decides whether a quote may come there (it may not inside a
  number, before a required key, or before a string's ``minLength``).
- **Opening.** After a key it writes the token ``":`` (the prompt's templates
  read ``"expression":string``), and the grammar then forces a lone ``"``,
  a token sequence it never saw before a value: it dropped the minus sign of
  "-12 + 5" there. Where the grammar allows a string, the token ``":"`` (as in
  every example it was shown) is made at least as likely as ``":``.
- **Repeating.** Copying a tool's result into an answer, it can fall into a
  loop on one digit ("4" became "4444…" until ``max_tokens``). In an answer
  to tool results (``copy_digits``), a digit may not repeat more times in a
  row than it ever does in the prompt: every number such an answer states is
  copied from there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

UNSURE_BELOW = 0.15
_CLOSING = re.compile(r'"[\]},\s]*')

Scores = npt.NDArray[np.float32]
TokenIds = npt.NDArray[np.intp]


@dataclass(frozen=True)
class StringTokens:
    """The tokens of one vocabulary that open and close JSON strings."""

    closers: TokenIds  # '"', '"}', '",', '"]}' ...
    key_end: int | None  # '":'
    key_end_string: int | None  # '":"'
    digits: dict[int, str]  # single-digit tokens


def string_tokens(llm: Any) -> StringTokens:
    """Scan a llama-cpp-python model's vocabulary (once per model: it takes about a second)."""
    closers: list[int] = []
    singles: dict[str, int] = {}
    digits: dict[int, str] = {}
    for token in range(llm.n_vocab()):
        text = llm.detokenize([token]).decode("utf-8", errors="replace")
        if _CLOSING.fullmatch(text):
            closers.append(token)
        if text in ('":', '":"'):
            singles.setdefault(text, token)
        if len(text) == 1 and text.isdigit() and text.isascii():
            digits[token] = text
    return StringTokens(np.array(closers, dtype=np.intp), singles.get('":'), singles.get('":"'), digits)


def longest_runs(text: str) -> dict[str, int]:
    """The longest run of each digit in ``text`` ("1004000" → {"1": 1, "0": 3, "4": 1})."""
    runs: dict[str, int] = {}
    for match in re.finditer(r"([0-9])\1*", text):
        digit = match.group(1)
        runs[digit] = max(runs.get(digit, 0), len(match.group(0)))
    return runs


def steer(
    tokens: StringTokens, prompt: str, prompt_tokens: int, *, copy_digits: bool = False
) -> Callable[[Any, Scores], Scores]:
    """A llama-cpp-python logits processor for one completion of ``prompt`` (``prompt_tokens``
    long), applying the fixes for the habits in the module's doc."""
    opener, key_end = tokens.key_end_string, tokens.key_end
    allowed_run = longest_runs(prompt) if copy_digits else None

    def process(input_ids: Any, scores: Scores) -> Scores:
        generated = input_ids[prompt_tokens:]
        last = int(generated[-1]) if len(generated) else -1
        if allowed_run is not None and last in tokens.digits:
            run = 1
            while run < len(generated) and int(generated[-1 - run]) == last:
                run += 1
            if run >= allowed_run.get(tokens.digits[last], 0):
                scores[last] = scores.min() - 1.0
        if opener is not None and key_end is not None:
            scores[opener] = max(scores[opener], scores[key_end] + 1.0)
        top = float(scores.max())
        top_probability = 1.0 / float(np.exp(scores - top).sum())
        if top_probability < UNSURE_BELOW:
            scores[tokens.closers] = np.maximum(scores[tokens.closers], top) + 1.0
        return scores

    return process
