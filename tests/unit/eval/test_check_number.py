"""Numeric answer checking (GSM8K, GSM-Hard): extraction from free text and comparison."""

from __future__ import annotations

from fractions import Fraction

import pytest

from agorakit.eval.checking import check_number, extract_choice, extract_math, extract_number
from agorakit.eval.checking.extract import last_code_block
from agorakit.eval.checking.numbers import numbers_in, parse_number


@pytest.mark.parametrize(
    ("text", "value", "shown"),
    [
        ("She has 1,234 apples.", Fraction(1234), "1234"),
        ("It costs $1,234.50 in total", Fraction(246_900, 200), "1234.5"),
        ("The answer is 18.", Fraction(18), "18"),
        ("#### 70,000", Fraction(70_000), "70000"),
        ("It rose by 45%", Fraction(45), "45"),
        ("so the temperature is -5 degrees", Fraction(-5), "-5"),
        ("he lost −7 points", Fraction(-7), "-7"),
        ("half, i.e. 1/2 of it", Fraction(1, 2), "1/2"),
        (r"\boxed{\frac{3}{4}}", Fraction(3, 4), "3/4"),
        (r"\boxed{1{,}000}", Fraction(1000), "1000"),
        ("about .5 liters", Fraction(1, 2), "0.5"),
        ("it is 5.0 km", Fraction(5), "5"),
        ("1.5e6 people", Fraction(1_500_000), "1.5e6"),
    ],
)
def test_extracts_numbers_in_their_written_forms(text: str, value: Fraction, shown: str) -> None:
    assert extract_number(text) == (value, shown)


def test_commas_only_group_three_digits() -> None:
    assert [value for value, _ in numbers_in("items 3,4 and 1,2345")] == [3, 4, 1, 2345]
    assert extract_number("See items 3,4") == (Fraction(4), "4")  # never 34
    assert numbers_in("a total of 12,345,678 grains")[0][0] == 12_345_678


def test_minus_between_numbers_is_subtraction_not_a_sign() -> None:
    assert [value for value, _ in numbers_in("10-3 = 7 and 10 - 3")] == [10, 3, 7, 10, 3]


def test_marker_beats_the_last_number() -> None:
    assert extract_number("The answer is 42. Check: 40 + 2 = 42, from 6 boxes") == (42, "42")
    assert extract_number("Final answer: $1,250\nThat took 3 steps.") == (1250, "1250")
    assert extract_number("**Answer:**\n\n56\n\n(computed in 2 ways)") == (56, "56")
    assert extract_number("#### 72\nI used 48/2 = 24 first") == (72, "72")
    assert extract_number(r"We get \boxed{15}. Earlier we had 12.") == (15, "15")


def test_last_marker_wins_and_markers_without_numbers_fall_through() -> None:
    text = "The answer is 10. Wait, I made a mistake. The answer is 12."
    assert extract_number(text) == (12, "12")
    assert extract_number(r"The answer is \boxed{x}, with x = 9") == (9, "9")


def test_no_number() -> None:
    assert extract_number("I do not know.") is None
    verdict = check_number("18", "I do not know.")
    assert (verdict.correct, verdict.extracted, verdict.reason) == (False, None, "no number in the prediction")


def test_parse_number_of_a_reference() -> None:
    assert parse_number("1,234") == 1234
    assert parse_number("$5.50") == Fraction(11, 2)
    assert parse_number("3 and 4") is None


@pytest.mark.parametrize(
    ("answer", "prediction"),
    [
        ("18", "She makes $18 every day."),
        ("18", "18.00"),
        ("1234", "The total is 1,234."),
        ("0.5", "1/2"),
        ("0.5", r"\boxed{\dfrac{1}{2}}"),
        ("-3", "x = -3"),
        ("3244047.0999999996", "The result is 3,244,047.1"),  # GSM-Hard float target, within 1e-4
        ("14053029.666666666", "#### 14053029.67"),
        ("5", "5.0"),
    ],
)
def test_correct(answer: str, prediction: str) -> None:
    verdict = check_number(answer, prediction)
    assert verdict.correct, verdict


@pytest.mark.parametrize(
    ("answer", "prediction", "extracted"),
    [
        ("18", "The answer is 17.", "17"),
        ("34", "See items 3,4", "4"),
        ("1000000", "1,000,050", "1000050"),  # different whole numbers: no tolerance, however large
        ("2.5", "2.6", "2.6"),
        ("18", "The answer is -18", "-18"),
    ],
)
def test_incorrect(answer: str, prediction: str, extracted: str) -> None:
    verdict = check_number(answer, prediction)
    assert (verdict.correct, verdict.extracted) == (False, extracted)
    assert verdict.reason == f"{extracted} != {answer}"


def test_tolerance_is_relative_and_configurable() -> None:
    assert check_number("100.5", "100.509").correct
    assert not check_number("100.5", "100.52").correct
    assert check_number("100.5", "100.52", rel_tol=1e-3).correct
    assert check_number("3244047.0999999996", "3244047.1").reason == "equal within relative tolerance 0.0001"


def test_absurd_numbers_do_not_hang() -> None:
    assert check_number("5", "1e999999999 or maybe 5").extracted == "5"
    assert check_number("5", "9" * 5000 + " then 5").extracted == "5"


def test_reference_that_is_not_a_number() -> None:
    verdict = check_number("five", "5")
    assert (verdict.correct, verdict.extracted, verdict.reason) == (False, "5", "the reference 'five' is not a number")


@pytest.mark.parametrize("unit", ["\\boxed{", "answer: ", "\\(", "```", "1,", " "])
def test_long_pathological_text_is_read_in_one_pass(unit: str) -> None:
    # Each of these once made an extractor rescan the rest of the text per occurrence (minutes at this size).
    text = unit * (200_000 // len(unit)) + " B 7"
    assert extract_number(text) == (7, "7")
    assert extract_math(text) == ("B 7" if unit == "answer: " else "7")
    assert extract_choice(text, ["1", "2", "3"]) == ("B" if unit == "answer: " else None)
    assert last_code_block(text).endswith(" B 7")
