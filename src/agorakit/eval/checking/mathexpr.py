"""Math answers (MATH-500): the final expression in free text, compared by meaning with ``math_verify``.

Extraction: the last ``\\boxed{...}`` (balanced braces); else what follows
the last final-answer phrase (its math span if it has one); else the last
math span (``$...$``, ``\\(...\\)``, ``\\[...\\]``) in the text; else the last
number. Comparison: ``math_verify`` (sympy) equivalence, so ``\\frac{1}{2}``,
``0.5``, ``1/2`` and ``\\dfrac{2}{4}`` agree, ``x = 3`` matches ``3`` and
intervals compare as sets; when it cannot parse either side, the normalized
LaTeX strings are compared.

:func:`check_math` runs ``math_verify`` in the calling thread with its own
signal-based timeouts switched off (they only work in the main thread), so
it has no time limit: sympy can take minutes on an answer like
``9^{9^{9}}``. The harness calls it through
:func:`agorakit.eval.checking.math_worker.check_math_bounded`, which runs it
in a separate process it kills on timeout.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from agorakit.eval.checking.extract import after_markers, last_boxed, last_math_span
from agorakit.eval.checking.numbers import numbers_in
from agorakit.eval.sample import Verdict

_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?")
_SPACES = re.compile(r"\\[,;:! ]|\\q?quad|\s+")
_TRAILING = ". \t\r\n"


def extract_math(prediction: str) -> str | None:
    """The final answer expression in ``prediction`` (LaTeX, without ``$``), or ``None``."""
    boxed = last_boxed(prediction)
    if boxed:
        return boxed
    for segment in after_markers(prediction):
        span = last_math_span(segment)
        if span:
            return span
        cleaned = segment.replace("$", "").rstrip(_TRAILING).strip("*_ ")
        if cleaned:
            return cleaned
    span = last_math_span(prediction)
    if span:
        return span
    found = numbers_in(prediction)
    return found[-1][1] if found else None


def normalize(expression: str) -> str:
    """A LaTeX answer reduced for string comparison: no spacing, ``\\left``/``\\right``, ``\\text{}`` wrappers,
    degree signs, ``$`` or trailing period; ``\\dfrac``/``\\tfrac`` as ``\\frac``."""
    text = expression.replace("$", "").replace("\\left", "").replace("\\right", "")
    text = _TEXT.sub(r"\1", text)
    text = _DEGREES.sub("", text)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\displaystyle", "")
    text = _SPACES.sub("", text)
    return text.rstrip(_TRAILING)


def check_math(answer: str, prediction: str) -> Verdict:
    """Whether the final expression in ``prediction`` is equivalent to the reference ``answer``.

    No time limit here (see the module docstring); use ``check`` or
    ``check_math_bounded`` for untrusted predictions.
    """
    extracted = extract_math(prediction)
    if extracted is None:
        return Verdict(False, None, "no answer expression in the prediction")
    if normalize(extracted) == normalize(answer):
        return Verdict(True, extracted, "same expression")
    gold, guess = _parse(answer), _parse(extracted)
    if not gold or not guess:
        side = "reference" if not gold else "prediction"
        return Verdict(False, extracted, f"different expression (math_verify could not parse the {side})")
    from math_verify import verify

    try:
        same = verify(gold, guess, timeout_seconds=None)
    except Exception as error:  # sympy raises all sorts on odd input: then it is not a match
        return Verdict(False, extracted, f"not comparable ({type(error).__name__})")
    if same:
        return Verdict(True, extracted, "equivalent (math_verify)")
    return Verdict(False, extracted, "not equivalent (math_verify)")


def _parse(expression: str) -> list[Any]:
    from math_verify import parse

    _quiet()
    try:
        return list(parse(f"${expression}$", parsing_timeout=None))
    except Exception:  # an answer math_verify cannot read is compared as a string instead
        return []


_quieted = False


def _quiet() -> None:
    """Drop math_verify's one-time warning that its timeouts are off: we bound it ourselves."""
    global _quieted
    if not _quieted:
        for name in ("math_verify.parser", "math_verify.grader"):
            logging.getLogger(name).addFilter(lambda record: "Timeout is disabled" not in record.getMessage())
        _quieted = True
