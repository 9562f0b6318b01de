"""One entry point for rule-based checking: the checker follows the sample's answer kind."""

from __future__ import annotations

from agorakit.eval.checking.choice import check_choice
from agorakit.eval.checking.code import check_code
from agorakit.eval.checking.math_worker import check_math_bounded
from agorakit.eval.checking.numbers import check_number
from agorakit.eval.sample import Sample, Verdict

DEFAULT_TIMEOUT_S = 10.0


async def check(sample: Sample, prediction: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Verdict:
    """The rule-based verdict on ``prediction`` (a method's full answer text) for ``sample``.

    ``number``, ``math``, ``choice`` and ``code`` samples are checked by
    rules (see docs/eval.md, "Answer checking"); ``timeout`` bounds a math
    comparison and each block of a code check. A ``text`` sample cannot be
    checked by rules: the verdict is incorrect with reason ``"needs a judge"``
    (see :mod:`agorakit.eval.checking.judge`).
    """
    kind = sample.kind
    if kind == "number":
        return check_number(sample.answer, prediction)
    if kind == "choice":
        return check_choice(sample.answer, prediction, sample.meta.get("choices") or ())
    if kind == "math":
        return await check_math_bounded(sample.answer, prediction, timeout=timeout)
    if kind == "code":
        entry_point = sample.meta.get("entry_point")
        return await check_code(
            sample.answer,
            prediction,
            setup=str(sample.meta.get("setup") or ""),
            entry_point=str(entry_point) if entry_point else None,
            timeout=timeout,
        )
    return Verdict(False, prediction.strip() or None, "needs a judge")
