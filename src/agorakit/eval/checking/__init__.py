"""Rule-based answer checking, the same for every method: the harness reads each method's full answer text.

    from agorakit.eval.checking import check
    verdict = await check(sample, method_result.answer)

:func:`check` dispatches on ``sample.kind``; the checkers are usable on
their own. ``math_verify`` (sympy) and the sandbox are imported only when a
math or code answer is checked. The optional LLM judge for free-form answers
is :mod:`agorakit.eval.checking.judge`.
"""

from agorakit.eval.checking.choice import check_choice, extract_choice
from agorakit.eval.checking.code import check_code
from agorakit.eval.checking.dispatch import check
from agorakit.eval.checking.math_worker import check_math_bounded
from agorakit.eval.checking.mathexpr import check_math, extract_math
from agorakit.eval.checking.numbers import check_number, extract_number

__all__ = [
    "check",
    "check_choice",
    "check_code",
    "check_math",
    "check_math_bounded",
    "check_number",
    "extract_choice",
    "extract_math",
    "extract_number",
]
