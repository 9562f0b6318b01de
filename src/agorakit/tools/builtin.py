"""Built-in tools: a safe calculator and the current time.

The calculator never calls ``eval``: it parses the expression with :mod:`ast`
and walks an allow-list of node types, so names, attributes, calls other than
the listed math functions, and anything else are refused. Sizes are checked
before each power is computed, so ``10**10**10`` is refused at once instead of
hanging.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from pydantic import Field

from agorakit.tools.timezones import zone_for
from agorakit.tools.tool import Tool, tool

Number = int | float

MAX_EXPRESSION_CHARS = 1_000
# Integers up to 10_000 bits (about 3_000 digits): below Python's 4_300-digit str() limit.
MAX_INT_BITS = 10_000

_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _log(x: Number, base: Number = math.e) -> float:
    return math.log(x, base)


def _min(*args: Number) -> Number:
    return min(args)


def _max(*args: Number) -> Number:
    return max(args)


def _round(x: Number, ndigits: int | None = None) -> Number:
    if ndigits is not None and not isinstance(ndigits, int):
        raise ValueError("round()'s second argument (the number of digits) must be an integer")
    return round(x, ndigits)


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": _round,
    "min": _min,
    "max": _max,
    "log": _log,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
# How many arguments each function takes (min, max); None = any number >= min.
_ARITY: dict[str, tuple[int, int | None]] = {
    "sqrt": (1, 1),
    "abs": (1, 1),
    "round": (1, 2),
    "min": (1, None),
    "max": (1, None),
    "log": (1, 2),
    "exp": (1, 1),
    "sin": (1, 1),
    "cos": (1, 1),
    "tan": (1, 1),
    "floor": (1, 1),
    "ceil": (1, 1),
}

_BINARY_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.MatMult: "@",
}

# Characters models and people write for arithmetic, mapped to Python's operators.
# '^' means power here: a model writing 2^10 means 1024, never XOR.
_NORMALIZE = str.maketrans({"^": "**", "×": "*", "·": "*", "÷": "/", "−": "-"})
# Operators in words, as questions put them ("80 times 3", "252 divided by 14").
_WORD_OPERATORS = {"plus": "+", "minus": "-", "times": "*", "multiplied by": "*", "divided by": "/"}
_WORD_OPERATOR = re.compile(r"\b(" + "|".join(_WORD_OPERATORS) + r")\b", re.IGNORECASE)


# The language the calculator reads, as a JSON-schema pattern: numbers (one
# decimal point each) between operators, parentheses, spaces and the names of its
# constants and functions, beginning where an expression can (not with an operator
# word: "times" alone was once a small model's argument for "What time is it in
# Los Angeles?"). Advertised, not enforced (the parser's errors say more): a
# grammar-constrained model then cannot run on past the expression into words
# ("74 + 99. denaro"), an "= ..." chain, or a second decimal point ("24.03.40"
# for "Compute 22.1 - 24.03."), and a server with strict schemas gets the same bound.
_NAMES = "|".join(sorted([*_FUNCTIONS, *_CONSTANTS], key=len, reverse=True))
_WORDS = "|".join(sorted(_WORD_OPERATORS, key=len, reverse=True))
_NUMBER = "[0-9]{1,20}([.][0-9]{0,20})?"  # [.], not \\.: llama.cpp's grammar converter mis-escapes it
_BETWEEN = f"([ ,+*/%^()\\-]|×|÷|−|·|{_NAMES}|{_WORDS})"
_LEAD = f"([ (+\\-]|−|{_NAMES})"
_TERM = f"{_NUMBER}{_BETWEEN}{{1,12}}"
EXPRESSION_PATTERN = (
    f"^({_LEAD}{_BETWEEN}{{0,12}}({_TERM}){{0,24}}({_NUMBER})?|({_TERM}){{1,24}}({_NUMBER})?|{_NUMBER})$"
)


@tool(idempotent=True)
def calculator(expression: Annotated[str, Field(json_schema_extra={"pattern": EXPRESSION_PATTERN})]) -> str:
    """Evaluate an arithmetic expression. Supports + - * / // % ** (or ^ for power, or
    the words plus, minus, times, multiplied by and divided by),
    parentheses, the constants pi and e, and the functions sqrt, abs, round, min,
    max, log, exp, sin, cos, tan, floor and ceil. Write numbers without thousands
    separators (1000, not 1,000).

    Args:
        expression: The expression to evaluate, for example "17 * 23" or "sqrt(2) / 2".
    """
    return format_number(evaluate(expression))


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression. Raises ``ValueError`` saying what is wrong."""
    # A trailing "=" ("17*23=") is how people write a sum to be worked out.
    text = expression.strip().removesuffix("=").strip().translate(_NORMALIZE)
    text = _WORD_OPERATOR.sub(lambda match: _WORD_OPERATORS[match.group(1).lower()], text)
    if not text:
        raise ValueError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"the expression is too long ({len(text)} characters; the limit is {MAX_EXPRESSION_CHARS})")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        shown = expression if len(expression) <= 60 else expression[:57] + "..."
        raise ValueError(f"invalid expression {shown!r}: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError("the expression is nested too deeply") from None
    try:
        return _eval(tree.body)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("the result is too large") from None
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    except TypeError as error:  # e.g. a math function given an unusable argument
        raise ValueError(str(error)) from None


def format_number(value: Number) -> str:
    """Integers as integers (``391``); floats in their shortest form, to 15 significant digits.

    Rounding to 15 digits hides binary floating-point noise (``0.1 + 0.2`` gives
    ``0.3``); a float with an integral value prints without ``.0`` (``6 / 2``
    gives ``3``).
    """
    if isinstance(value, int):
        return str(value)
    rounded = float(f"{value:.15g}")
    if rounded.is_integer() and abs(rounded) < 2**53:
        return str(int(rounded))
    return repr(rounded)


def _eval(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        value = node.value
        # bool is an int subclass and complex is a number: neither belongs in arithmetic here.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not a number")
        return _check(value)
    if isinstance(node, ast.BinOp):
        return _binary(node)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.USub):
            return -_eval(node.operand)
        if isinstance(node.op, ast.UAdd):
            return +_eval(node.operand)
        raise ValueError(f"the operator {_UNARY_NAMES.get(type(node.op), type(node.op).__name__)!r} is not allowed")
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise ValueError(f"{node.id} is a function: call it, e.g. {node.id}(2)")
        raise ValueError(f"unknown name {node.id!r}; the constants are {', '.join(_CONSTANTS)}")
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.Tuple):
        raise ValueError(
            "a comma is only allowed between function arguments; write numbers without thousands "
            "separators (1000, not 1,000)"
        )
    raise ValueError(f"{_describe_node(node)} is not allowed in a calculator expression")


_UNARY_NAMES: dict[type[ast.unaryop], str] = {ast.Not: "not", ast.Invert: "~"}


def _binary(node: ast.BinOp) -> Number:
    # A long chain such as 1+2+3+... nests to the left; walking it in a loop keeps
    # its length from costing recursion depth.
    chain: list[ast.BinOp] = []
    current: ast.expr = node
    while isinstance(current, ast.BinOp) and not isinstance(current.op, ast.Pow):
        chain.append(current)
        current = current.left
    if isinstance(current, ast.BinOp):  # a power: right-associative, so it nests to the right
        value = _apply(current.op, _eval(current.left), _eval(current.right))
    else:
        value = _eval(current)
    for link in reversed(chain):
        value = _apply(link.op, value, _eval(link.right))
    return value


def _apply(operator: ast.operator, left: Number, right: Number) -> Number:
    op = type(operator)
    if op is ast.Add:
        result = left + right
    elif op is ast.Sub:
        result = left - right
    elif op is ast.Mult:
        result = left * right
    elif op is ast.Div:
        result = left / right
    elif op is ast.FloorDiv:
        result = left // right
    elif op is ast.Mod:
        result = left % right
    elif op is ast.Pow:
        result = _power(left, right)
    else:
        raise ValueError(f"the operator {_BINARY_SYMBOLS.get(op, op.__name__)!r} is not allowed")
    return _check(result)


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        # Estimate the size before computing: the check is what stops 10**10**10.
        if abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise OverflowError
        exact: int = base**exponent  # int ** non-negative int is an int (typeshed says Any)
        return exact
    if base == 0 and exponent < 0:
        raise ZeroDivisionError
    try:
        # math.pow refuses complex results ((-8) ** 0.5) and overflows loudly instead of returning inf.
        return math.pow(base, exponent)
    except ValueError:
        raise ValueError(f"({format_number(base)}) ** {format_number(exponent)} is not a real number") from None


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name):  # e.g. math.sqrt(4) or f(1)(2)
        raise ValueError(f"{_describe_node(node.func)} is not allowed in a calculator expression")
    if node.func.id not in _FUNCTIONS:
        raise ValueError(f"unknown function {node.func.id!r}; the functions are {', '.join(_FUNCTIONS)}")
    name = node.func.id
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ValueError(f"{name}() takes plain positional arguments only")
    low, high = _ARITY[name]
    count = len(node.args)
    if count < low or (high is not None and count > high):
        expected = str(low) if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name}() takes {expected} argument(s), got {count}")
    args = [_eval(arg) for arg in node.args]
    try:
        result = _FUNCTIONS[name](*args)
    except ValueError as error:
        if str(error) == "math domain error":
            shown = ", ".join(format_number(arg) for arg in args)
            raise ValueError(f"{name}({shown}) is undefined (math domain error)") from None
        raise
    return _check(result)


def _check(value: Number) -> Number:
    """Refuse results that are too large: big ints cost time, inf and nan mean overflow."""
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise OverflowError
    elif not math.isfinite(value):
        raise OverflowError
    return value


def _describe_node(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access",
        "Subscript": "indexing",
        "Compare": "a comparison",
        "BoolOp": "and/or",
        "Lambda": "a lambda",
        "IfExp": "if/else",
        "List": "a list",
        "Dict": "a dict",
        "Set": "a set",
        "JoinedStr": "an f-string",
        "NamedExpr": "assignment (:=)",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a comprehension",
        "Await": "await",
        "Yield": "yield",
        "YieldFrom": "yield",
        "Starred": "unpacking (*)",
        "Slice": "slicing",
    }
    return names.get(type(node).__name__, type(node).__name__)


@tool(idempotent=True)
def current_time(place: str = "UTC") -> str:
    """Return the current date and time in a city or time zone, in ISO 8601 format.

    Args:
        place: A city such as "Tokyo" or "New York", an IANA time zone name such as
            "UTC", "Europe/Paris" or "America/New_York", or a UTC offset such as "UTC+2" or "-05:00".
    """
    return datetime.now(zone_for(place)).isoformat(timespec="seconds")


def builtin_tools() -> list[Tool[..., str]]:
    """The built-in tools: ``[calculator, current_time]`` (a new list each call)."""
    return [calculator, current_time]
