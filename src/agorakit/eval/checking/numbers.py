"""Numeric answers (GSM8K, GSM-Hard): find the final number in free text and compare it with the reference.

Extraction, first rule that yields a number: the last ``\\boxed{...}``; the
last ``#### N``; the last final-answer phrase ("the answer is", "final
answer:", "answer:"); else the last number in the text. Numbers may carry
thousands commas (only groups of exactly three digits: "items 3,4" is 3 and
4), a currency sign, a unit or percent after them, a minus sign, decimals,
an exponent, or be a fraction ("1/2", ``\\frac{1}{2}``).
"""

from __future__ import annotations

import re
from fractions import Fraction

from agorakit.eval.checking.extract import after_markers, last_boxed
from agorakit.eval.sample import Verdict

DEFAULT_REL_TOL = 1e-4
MAX_EXPONENT = 400  # "1e999999999" would take minutes to turn into an exact number

_NUMBER = re.compile(
    r"""
    (?<![\w./])                           # not inside a word or another number
    (?P<sign>[-\u2212])?(?:\$\s?)?(?P<sign2>[-\u2212])?
    (?:
        (?P<frac>\d+/\d+)(?![\d/])        # a fraction: 1/2
      | (?P<int>\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?P<dec>\.\d+)?(?P<exp>[eE][-+]?\d+)?
      | (?P<bare>\.\d+)                   # .5
    )
    """,
    re.VERBOSE,
)
_LATEX_FRACTION = re.compile(r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_HASHES = re.compile(r"####\s*(.*)")
_LATEX_NOISE = (("{,}", ","), ("\\!", ""), ("\\,", ""), ("\\$", "$"), ("\\%", "%"), ("\\left", ""), ("\\right", ""))


def numbers_in(text: str) -> list[tuple[Fraction, str]]:
    """Every number in ``text`` in order, as ``(value, canonical text)``."""
    text = _plain(text)
    found: list[tuple[Fraction, str]] = []
    for match in _NUMBER.finditer(text):
        parsed = _value(match)
        if parsed is not None:
            found.append(parsed)
    return found


def parse_number(text: str) -> Fraction | None:
    """The value of a text that is one number ("1,234", "$5.50", "-3", "1/2", "\\frac{3}{4}"), else ``None``."""
    found = numbers_in(text)
    return found[0][0] if len(found) == 1 else None


def extract_number(text: str) -> tuple[Fraction, str] | None:
    """The final numeric answer in ``text`` (see the module docstring for the rules), or ``None``."""
    boxed = last_boxed(text)
    if boxed is not None and (found := numbers_in(boxed)):
        return found[0]
    for segment in reversed(_HASHES.findall(text)):
        if found := numbers_in(segment):
            return found[0]
    for segment in after_markers(text):
        if found := numbers_in(segment):
            return found[0]
    everything = numbers_in(text)
    return everything[-1] if everything else None


def check_number(answer: str, prediction: str, *, rel_tol: float = DEFAULT_REL_TOL) -> Verdict:
    """Whether the final number in ``prediction`` equals the reference ``answer``.

    Equal as exact rationals ("5.0" == "5", "1/2" == "0.5"); when either side
    is not a whole number (GSM-Hard's float answers, a rounded prediction),
    equal within ``rel_tol`` relative tolerance. Two different whole numbers
    are never equal, however large.
    """
    reference = parse_number(answer)
    if reference is None:
        found = numbers_in(answer)
        if not found:
            return Verdict(False, _extracted(prediction), f"the reference {answer!r} is not a number")
        reference = found[-1][0]
    extracted = extract_number(prediction)
    if extracted is None:
        return Verdict(False, None, "no number in the prediction")
    value, text = extracted
    if value == reference:
        return Verdict(True, text, "equal")
    if (value.denominator != 1 or reference.denominator != 1) and _close(value, reference, rel_tol):
        return Verdict(True, text, f"equal within relative tolerance {rel_tol:g}")
    return Verdict(False, text, f"{text} != {answer.strip()}")


def _close(a: Fraction, b: Fraction, rel_tol: float) -> bool:
    # Exact arithmetic, so huge values cannot overflow a float.
    return abs(a - b) <= Fraction(rel_tol) * max(abs(a), abs(b))


def _extracted(prediction: str) -> str | None:
    found = extract_number(prediction)
    return found[1] if found else None


def _plain(text: str) -> str:
    for old, new in _LATEX_NOISE:
        text = text.replace(old, new)
    return _LATEX_FRACTION.sub(lambda m: f"{m.group(1)}/{m.group(2)}", text)


def _value(match: re.Match[str]) -> tuple[Fraction, str] | None:
    negative = match.group("sign") is not None or match.group("sign2") is not None
    if match.group("frac"):
        numerator, denominator = match.group("frac").split("/")
        try:
            value = Fraction(int(numerator), int(denominator))
        except (ValueError, ZeroDivisionError):  # 0 denominator, or more digits than int() takes
            return None
        text = f"{numerator}/{denominator}"
    else:
        exponent = match.group("exp") or ""
        if exponent and abs(int(exponent[1:])) > MAX_EXPONENT:
            return None
        digits = match.group("bare") or (match.group("int").replace(",", "") + (match.group("dec") or "") + exponent)
        try:
            value = Fraction(digits)
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        text = _canonical(digits.lower())
    if negative:
        value, text = -value, f"-{text}"
    return value, text


def _canonical(digits: str) -> str:
    """``"0050.50"`` -> ``"50.5"``, ``".5"`` -> ``"0.5"``: how an extracted number is shown."""
    if "." in digits and "e" not in digits:
        digits = digits.rstrip("0").rstrip(".")
    whole, dot, rest = digits.partition(".")
    return (whole.lstrip("0") or "0") + dot + rest
