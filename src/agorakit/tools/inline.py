"""Which sync tools may run on the event loop instead of in a worker thread.

A sync tool normally runs in a worker thread, for two reasons: a tool that
blocks (I/O, ``sleep``, a lock) must not freeze the other agents on the loop,
and the dispatcher's timeout must be able to give up on it. The hop costs two
thread wake-ups per call (about 100-200 µs on two busy cores), more than the
rest of a tool step.

Neither reason applies to a function that provably cannot block or call out:
straight-line bytecode (no loops) that only reads its own parameters and
constants and combines them with operators, no calls, no globals, no
attribute access, no closures, given plain scalars (``int``, ``float``,
``str``, ``bool``, ``None``). Every operation is then a C-level builtin on
builtin values that holds the GIL from start to end, so in a worker thread
it would freeze the loop exactly as long as inline, and a timeout could only
fire after it finished anyway. Such a tool (``def add(a: int, b: int) -> int:
return a + b``) runs inline; the dispatcher still reports a call that took
longer than its timeout as timed out. Anything else, or the same function
called with non-scalar values, takes the thread.
"""

from __future__ import annotations

import dis
import inspect
import types
from collections.abc import Callable
from typing import Any

# Values whose operators are C builtins that never release the GIL or run Python code.
SCALARS = frozenset({int, float, str, bool, type(None)})

# Opcodes (3.11-3.13 names) that read locals and constants, combine them with
# operators, branch forward and return. No CALL, LOAD_GLOBAL, LOAD_ATTR,
# LOAD_DEREF, IMPORT_*, backward jump (loop) or anything that runs other code.
_SAFE_OPS = frozenset(
    {
        "RESUME", "NOP", "CACHE", "EXTENDED_ARG", "NOT_TAKEN",
        "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_LOAD_FAST", "LOAD_FAST_BORROW",
        "LOAD_FAST_BORROW_LOAD_FAST_BORROW", "LOAD_CONST", "LOAD_SMALL_INT",
        "STORE_FAST", "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST", "POP_TOP", "COPY", "SWAP",
        "BINARY_OP", "BINARY_SUBSCR", "UNARY_NEGATIVE", "UNARY_NOT", "UNARY_INVERT", "TO_BOOL",
        "COMPARE_OP", "IS_OP", "CONTAINS_OP",
        "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE", "POP_JUMP_IF_NONE", "POP_JUMP_IF_NOT_NONE",
        "POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_TRUE",
        "POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_FORWARD_IF_NOT_NONE",
        "JUMP_FORWARD", "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP",
        "BUILD_TUPLE", "BUILD_STRING", "FORMAT_VALUE", "FORMAT_SIMPLE", "FORMAT_WITH_SPEC", "CONVERT_VALUE",
        "RETURN_VALUE", "RETURN_CONST",
    }
)  # fmt: skip
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
_NOT_PLAIN = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE


def runs_inline(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is a plain function whose body cannot block or call out (see the module doc)."""
    if type(fn) is not types.FunctionType or fn.__closure__:
        return False
    code = fn.__code__
    if code.co_flags & _NOT_PLAIN:
        return False
    try:
        for ins in dis.get_instructions(code):
            if ins.opname not in _SAFE_OPS:
                return False
            if ins.opcode in _JUMPS and not (isinstance(ins.argval, int) and ins.argval > ins.offset):
                return False  # a jump back is a loop: the body would no longer be bounded
    except Exception:  # an unreadable code object: take the safe path
        return False
    return True


def scalar_values(values: dict[str, Any]) -> bool:
    """Whether every value is a plain builtin scalar (exact types, not subclasses)."""
    for value in values.values():  # noqa: SIM110  (per call: a plain loop costs less than all() over a generator)
        if value.__class__ not in SCALARS:
            return False
    return True
