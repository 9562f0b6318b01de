"""Code answers (HumanEval, MBPP): run the extracted code and the dataset's tests in the sandbox (pass@1).

The code is the last ```` ```python ```` block of the answer (else the last
unlabelled fence, else the whole text). Each check gets a fresh sandboxed
interpreter (agorakit's :class:`~agorakit.tools.sandbox.Sandbox`: bubblewrap
where available, always rlimits) that runs, as separate blocks, the
``setup`` (HumanEval: the prompt, for its imports and helper functions),
the code, and the tests. Correct means every block ran to the end. A block
that outlives ``timeout`` (an infinite loop) makes it incorrect with reason
``"timeout"``; any other failure gives the error's last line as the reason
(``SyntaxError: ...``, ``AssertionError``...).

A reply that is only a function body (HumanEval's original completion
format) is appended to the prompt instead of run on its own.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from agorakit.eval.checking.extract import last_code_block
from agorakit.eval.sample import Verdict

if TYPE_CHECKING:
    from agorakit.tools.sandbox import ExecResult, Isolation

MEMORY_MB = 1024
_isolation: Isolation | None = None


async def check_code(
    tests: str,
    prediction: str,
    *,
    setup: str = "",
    entry_point: str | None = None,
    timeout: float = 10.0,
) -> Verdict:
    """Whether the code in ``prediction`` passes ``tests`` (Python that raises on failure).

    ``setup`` runs first (for HumanEval, the prompt); ``entry_point`` is the
    function the tests call, used to recognise a body-only reply. ``timeout``
    bounds each of the (up to three) blocks, in wall and CPU seconds.
    """
    from agorakit.tools.sandbox import Sandbox, SandboxLimits

    code = last_code_block(prediction)
    if not code.strip():
        return Verdict(False, None, "no code in the prediction")
    blocks = [("setup", setup), ("code", code), ("tests", tests)]
    if setup and entry_point and _is_body_only(code, entry_point):
        blocks = [("code", setup.rstrip("\n") + "\n" + code), ("tests", tests)]
    limits = SandboxLimits(wall_time_s=timeout, cpu_time_s=timeout, memory_mb=MEMORY_MB)
    async with Sandbox(limits, isolation=await _shared_isolation()) as sandbox:
        for part, block in blocks:
            if not block.strip():
                continue
            result = await sandbox.exec(block)
            if not _passed(result):
                return Verdict(False, code, _failure(part, result))
    return Verdict(True, code, "all tests passed")


def _is_body_only(code: str, entry_point: str) -> bool:
    if re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        return False
    first = next((line for line in code.splitlines() if line.strip()), "")
    return first.startswith((" ", "\t"))


def _passed(result: ExecResult) -> bool:
    # Output beyond the sandbox's cap is cut, not a failure of the code.
    return result.error is None and result.exit_status == 0 and result.limit_hit in (None, "output")


def _failure(part: str, result: ExecResult) -> str:
    if result.limit_hit in ("wall_time", "cpu_time"):
        return "timeout"
    if result.limit_hit is not None:
        return f"{result.limit_hit} limit hit"
    # Caret lines (``^^^^``) only underline the source line above them.
    lines = [line.strip() for line in (result.error or "").splitlines() if line.strip(" ^~\t")]
    if lines:
        last = lines[-1]
        if part == "tests" and last == "AssertionError" and len(lines) >= 2:
            return f"AssertionError: {lines[-2]}"  # the failing assert's source line
        return last if part == "code" else f"{part}: {last}"
    return f"{part} exited with status {result.exit_status}"


async def _shared_isolation() -> Isolation:
    """Probe the sandbox backends once per process (the probe starts an interpreter)."""
    global _isolation
    if _isolation is None:
        from agorakit.tools.sandbox import detect_isolation

        _isolation = await asyncio.to_thread(detect_isolation)
    return _isolation
