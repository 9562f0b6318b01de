"""Multiple-choice answers (MMLU, AQUA-RAT): which option letter a free-text answer picks.

Rules, first that matches wins (the last match in the text within a rule):

1. the whole answer, its last line or its ``\\boxed{}`` is a letter: ``B``, ``(B)``, ``B.``, ``**B**``;
2. a final-answer phrase: "the answer is (B)", "Answer: B", "the correct option is C, 42";
3. an option named in prose: "option C is correct", "I pick option C.";
4. a formatted letter: ``(B)``, ``B)`` or ``**B**`` anywhere;
5. the text after the final-answer phrase, or the last line, or the whole
   answer, equals exactly one option's text ("42" when option C is "42").

Only capital letters of the options count, and only standing alone (a
bracket, a phrase or the end around them), so the article in "A train
leaves..." is not option A.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from agorakit.eval.checking.extract import after_markers, last_boxed
from agorakit.eval.sample import Verdict

DEFAULT_LETTERS = "ABCDE"
LETTERS = "ABCDEFGHIJ"
_TEXT = re.compile(r"\\(?:text|textbf|mathrm)\{(.*?)\}")
# Whitespace runs never sit next to each other in these patterns: overlapping ones backtrack quadratically.
_SOLO = r"(?:\*\*|__)?(?:[(\[]\s*)?({L})(?:\s*[)\].:])?(?:\*\*|__)?"
_ANSWER_PHRASE = (
    r"(?i:\b(?:final\s+answer|answer|correct\s+(?:answer|option|choice))\b)[*_\s]*(?:(?:is\b|[:=])[*_\s:]*)?"
    r"(?:(?i:option|choice)\s*)?(?:[(\[]\s*)?({L})(?![\w'])"
)
_OPTION_PROSE = (
    r"(?i:\b(?:option|choice)\b)\s*[(\[]?({L})(?![\w'])[)\]]?"
    r"(?=\s*(?i:is|was)\s+(?i:correct|right|the\s+answer)|\s*[,.]|\s*$)"
)
_FORMATTED = r"\(({L})\)|(?<![\w(])({L})\)|\*\*({L})(?:\)|\.)?\*\*"
_PUNCT = re.compile(r"[\s*_`'\".,:;!?()\[\]]+")


def extract_choice(prediction: str, choices: Sequence[str] = (), letters: str | None = None) -> str | None:
    """The option letter ``prediction`` picks, or ``None`` (see the module docstring for the rules).

    ``letters`` are the valid letters (default: one per choice, else ``A``-``E``).
    """
    valid = letters or (LETTERS[: len(choices)] if choices else DEFAULT_LETTERS)
    solo, *in_prose = _patterns(valid)
    text = prediction.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    boxed = last_boxed(text)
    for candidate in (text, lines[-1] if lines else "", _TEXT.sub(r"\1", boxed or "")):
        if whole := solo.fullmatch(candidate.strip()):
            return whole.group(1)
    for pattern in in_prose:
        if letter := _last_letter(pattern, text):
            return letter
    return _by_option_text(text, choices, valid)


def check_choice(answer: str, prediction: str, choices: Sequence[str] = ()) -> Verdict:
    """Whether ``prediction`` picks the reference letter ``answer`` (``choices``: the option texts)."""
    reference = answer.strip().strip("()").upper()
    extracted = extract_choice(prediction, choices)
    if extracted is None:
        return Verdict(False, None, "no option letter in the prediction")
    if extracted == reference:
        return Verdict(True, extracted, "same option")
    return Verdict(False, extracted, f"{extracted} != {reference}")


@functools.lru_cache(maxsize=32)
def _patterns(valid: str) -> tuple[re.Pattern[str], ...]:
    letter_class = f"[{re.escape(valid)}]"
    return tuple(re.compile(p.format(L=letter_class)) for p in (_SOLO, _ANSWER_PHRASE, _OPTION_PROSE, _FORMATTED))


def _last_letter(pattern: re.Pattern[str], text: str) -> str | None:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    return next(group for group in matches[-1].groups() if group is not None)


def _by_option_text(text: str, choices: Sequence[str], valid: str) -> str | None:
    if not choices:
        return None
    options = {_squash(choice): index for index, choice in enumerate(choices)}
    if len(options) != len(choices) or "" in options:
        return None  # two options read the same: their text cannot tell them apart
    lines = [line for line in text.splitlines() if line.strip()]
    candidates = [*after_markers(text), *(lines[-1:]), text]
    for candidate in candidates:
        index = options.get(_squash(candidate))
        if index is not None and index < len(valid):
            return valid[index]
    return None


def _squash(text: str) -> str:
    return _PUNCT.sub(" ", text).strip().lower()
