"""The two records every part of the harness shares: a benchmark sample and a verdict on a prediction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: How a dataset's answers are checked: a number (GSM8K), a math expression
#: (MATH-500), a lettered option (MMLU, AQUA-RAT), code run against tests
#: (HumanEval, MBPP), or free text (only an LLM judge can check it).
AnswerKind = Literal["number", "math", "choice", "code", "text"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One benchmark question.

    ``id`` is stable across releases of the file (the dataset's own id, or the
    line number when it has none) and is what resumable runs key on, never the
    question text. ``question`` is the full prompt a method sees (options are
    already rendered into it for multiple choice; the function stub for code).
    ``answer`` is the reference: a number, a LaTeX expression, a letter, or for
    code the test program. ``meta`` holds what checkers need beyond that
    (``entry_point`` for HumanEval, ``choices``...).
    """

    dataset: str
    id: str
    question: str
    answer: str
    kind: AnswerKind
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule-based checker's judgement of one prediction.

    ``extracted`` is the answer the checker read from the prediction (``None``
    when it found none, which is then incorrect); ``reason`` says briefly why
    the verdict is what it is (shown in reports and ``agora bench`` errors).
    """

    correct: bool
    extracted: str | None
    reason: str = ""
