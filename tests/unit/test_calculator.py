"""Built-in tools: the safe calculator and current_time."""

import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agorakit.tools import builtin_tools, calculator, current_time
from agorakit.tools.builtin import EXPRESSION_PATTERN, MAX_EXPRESSION_CHARS, evaluate, format_number

small_ints = st.integers(min_value=-(10**6), max_value=10**6)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("17*23", "391"),
        ("17 * 23", "391"),
        ("7/2", "3.5"),
        ("6/2", "3"),
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("-3 + +4", "1"),
        ("--5", "5"),
        ("7 // 2", "3"),
        ("-7 // 2", "-4"),
        ("7 % 3", "1"),
        ("2 ** 10", "1024"),
        ("2^10", "1024"),  # ^ is power: models write it that way
        ("2 ^ 3 ^ 2", "512"),  # right-associative, like **
        ("2 ** -2", "0.25"),
        ("0.1 + 0.2", "0.3"),  # 15 significant digits hide binary noise
        ("1/3", "0.333333333333333"),
        ("1e3", "1000"),
        ("1_000 * 3", "3000"),
        ("2.5e-3", "0.0025"),
        ("1e20", "1e+20"),
        ("2**64", "18446744073709551616"),  # integers stay exact
        ("sqrt(16)", "4"),
        ("sqrt(2)", "1.4142135623731"),
        ("abs(-4.5)", "4.5"),
        ("round(3.14159, 2)", "3.14"),
        ("round(2.675)", "3"),
        ("min(3, 1, 2)", "1"),
        ("max(3, 1, 2)", "3"),
        ("min(5)", "5"),
        ("log(e)", "1"),
        ("log(8, 2)", "3"),
        ("exp(0)", "1"),
        ("sin(0)", "0"),
        ("cos(pi)", "-1"),
        ("tan(0)", "0"),
        ("floor(-2.5)", "-3"),
        ("ceil(2.1)", "3"),
        ("pi", "3.14159265358979"),
        ("2 × 3 ÷ 4", "1.5"),
        ("5 − 2", "3"),
        ("17*23=", "391"),
        ("  42  ", "42"),
        ("(-8) ** 2", "64"),
        ("0 ** 0", "1"),
        ("(-1) ** (10 ** 100)", "1"),
    ],
)
def test_calculator_values(expression: str, expected: str) -> None:
    assert calculator(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        # Code, not arithmetic.
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('echo hi')", "not allowed|unknown function"),
        ("().__class__.__bases__", "attribute access is not allowed"),
        ("(1).real", "attribute access is not allowed"),
        ("math.sqrt(4)", "attribute access is not allowed"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("eval('1+1')", "unknown function 'eval'"),
        ("x + 1", "unknown name 'x'"),
        ("__builtins__", "unknown name '__builtins__'"),
        ("sqrt", "sqrt is a function"),
        ("lambda: 1", "a lambda is not allowed"),
        ("[1, 2][0]", "not allowed"),
        ("'a' * 3", "'a' is not a number"),
        ("True + 1", "True is not a number"),
        ("None", "None is not a number"),
        ("1j * 2", "1j is not a number"),
        ("1 if 1 else 2", "if/else is not allowed"),
        ("1 < 2", "a comparison is not allowed"),
        ("(y := 2)", "assignment"),
        ("f'{1}'", "f-string is not allowed"),
        ("import os", "invalid expression"),
        ("1; 2", "invalid expression"),
        ("1 << 3", "operator '<<' is not allowed"),
        ("6 & 3", "operator '&' is not allowed"),
        ("~1", "operator '~' is not allowed"),
        ("not 1", "operator 'not' is not allowed"),
        ("sqrt(x=4)", "positional arguments only"),
        ("max(*[1, 2])", "positional arguments only"),
        # Numbers that are too big, refused before they are computed.
        ("10**10**10", "too large"),
        ("9**9**9", "too large"),
        ("2**100000", "too large"),
        ("(10**2000) * (10**2000)", "too large"),
        ("1e999", "too large"),
        ("1e308 * 10", "too large"),
        ("exp(1000)", "too large"),
        ("2.0 ** 100000", "too large"),
        # Arithmetic errors.
        ("1/0", "division by zero"),
        ("1 // 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("sqrt(-1)", r"sqrt\(-1\) is undefined"),
        ("log(0)", r"log\(0\) is undefined"),
        ("(-8) ** (1/3)", "not a real number"),
        # Malformed input.
        ("", "empty"),
        ("   ", "empty"),
        ("1,000", "1000, not 1,000"),
        ("1,000 + 5", "comma is only allowed between function arguments"),
        ("2 +", "invalid expression"),
        ("(1 + 2", "invalid expression"),
        ("sqrt()", r"sqrt\(\) takes 1 argument\(s\), got 0"),
        ("sqrt(1, 2)", r"sqrt\(\) takes 1 argument\(s\), got 2"),
        ("round(1, 2, 3)", r"round\(\) takes 1 to 2 argument\(s\), got 3"),
        ("max()", r"max\(\) takes at least 1 argument\(s\), got 0"),
        ("round(2.5, 1.5)", "must be an integer"),
        ("1" + "+1" * MAX_EXPRESSION_CHARS, "too long"),
        ("(" * 300 + "1" + ")" * 300, "invalid expression|nested too deeply"),
    ],
)
@pytest.mark.timeout(10)
def test_calculator_refuses(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calculator(expression)


@given(small_ints, small_ints, small_ints)
def test_calculator_matches_python_on_integer_expressions(a: int, b: int, c: int) -> None:
    assert calculator(f"{a} + {b} * {c}") == str(a + b * c)
    assert calculator(f"({a} - {b}) * {c}") == str((a - b) * c)


@given(small_ints, small_ints.filter(lambda n: n != 0))
def test_calculator_division_matches_python(a: int, b: int) -> None:
    assert calculator(f"{a} // {b}") == str(a // b)
    assert calculator(f"{a} % {b}") == str(a % b)
    assert float(calculator(f"{a} / {b}")) == pytest.approx(a / b, rel=1e-14)


@pytest.mark.parametrize(
    ("value", "text"),
    [(391, "391"), (3.5, "3.5"), (3.0, "3"), (-0.0, "0"), (1e16, "1e+16"), (1.5e-7, "1.5e-07"), (2**70, str(2**70))],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


# --- current_time --------------------------------------------------------------------


def test_current_time_defaults_to_utc() -> None:
    text = current_time()
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(0)
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)
    assert moment.microsecond == 0  # seconds precision


def test_current_time_in_a_named_zone() -> None:
    moment = datetime.fromisoformat(current_time("Asia/Tokyo"))
    assert moment.utcoffset() == timedelta(hours=9)  # Japan has no daylight saving time
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe", "../../etc/passwd", ""])
def test_current_time_rejects_unknown_zones(zone: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        current_time(zone)


def test_builtin_tools() -> None:
    tools = builtin_tools()
    assert tools == [calculator, current_time]
    assert tools is not builtin_tools()
    assert calculator.parameters == {
        "additionalProperties": False,
        "properties": {
            "expression": {
                "description": 'The expression to evaluate, for example "17 * 23" or "sqrt(2) / 2".',
                "pattern": EXPRESSION_PATTERN,
                "type": "string",
            }
        },
        "required": ["expression"],
        "type": "object",
    }
    assert current_time.parameters["properties"]["place"]["default"] == "UTC"
    assert "^ for power" in calculator.description


def test_trig_values_are_close_to_math() -> None:
    assert float(calculator("sin(pi / 6)")) == pytest.approx(math.sin(math.pi / 6))


def test_long_chains_do_not_exhaust_the_stack() -> None:
    assert calculator("1" + " + 1" * 240) == "241"
    assert calculator("2" + "*1" * 490) == "2"


@pytest.mark.parametrize(
    ("expression", "value"),
    [("80 times 3", 240), ("252 divided by 14", 18), ("7 Plus 5 minus 20", -8), ("6 multiplied by 7", 42)],
)
def test_operators_in_words_are_read_as_questions_put_them(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", ["17 * 23", "-12 + 5", "sqrt(2) / 2", "2^10", "(3.5 - 1) * 4", "7 times 6"])
def test_expression_pattern_admits_what_the_calculator_reads(expression: str) -> None:
    assert re.fullmatch(EXPRESSION_PATTERN, expression)


@pytest.mark.parametrize("expression", ["74 + 99. denaro", "17 * 23 = 391 so", "times", "", "1" * 161])
def test_expression_pattern_stops_a_model_running_on_past_the_expression(expression: str) -> None:
    assert re.fullmatch(EXPRESSION_PATTERN, expression) is None
