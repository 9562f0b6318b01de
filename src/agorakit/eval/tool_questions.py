"""Seeded tool-use questions for one agent, and how to score its answers.

Used by ``bench/embedded_agent.py`` and the embedded agent's integration
test: questions an agent answers by calling a tool (the calculator, the clock,
or a user-defined ``word_count``), generated from a seed so that a tuning set
and a held-out set never overlap in wording or numbers.

    questions = tool_questions(seed=7, per_category=12)
    verdict = score(questions[0], output, tools_called)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from agorakit.tools.builtin import format_number

CATEGORIES = ("integer", "negative", "decimal", "division", "large", "phrasing", "time", "user_tool")

# How a person asks for a sum to be worked out; {e} is the expression.
_TEMPLATES = (
    "What is {e}?",
    "Compute {e}.",
    "How much is {e}?",
    "{e} = ?",
    "Calculate {e} for me.",
    "What's {e}?",
    "Work out {e}.",
    "Please evaluate {e}.",
    "Can you tell me what {e} is?",
    "Quick question: {e}?",
)

# The same operations in words; {a} and {b} are numbers, the lambda gives the value.
_WORDED: tuple[tuple[str, Callable[[int, int], float]], ...] = (
    ("What is the sum of {a} and {b}?", lambda a, b: a + b),
    ("What is the product of {a} and {b}?", lambda a, b: a * b),
    ("Multiply {a} by {b}.", lambda a, b: a * b),
    ("What do you get when you add {a} to {b}?", lambda a, b: a + b),
    ("Add {a} and {b}.", lambda a, b: a + b),
    ("What is {a} times {b}?", lambda a, b: a * b),
    ("What is {a} plus {b}?", lambda a, b: a + b),
    ("What is {a} minus {b}?", lambda a, b: a - b),
    ("What is {a} divided by {b}?", lambda a, b: a / b),
    ("Divide {a} by {b}.", lambda a, b: a / b),
)

# Cities people name, with the IANA zone a correct answer is read in.
_CITIES = (
    ("Tokyo", "Asia/Tokyo"),
    ("Paris", "Europe/Paris"),
    ("London", "Europe/London"),
    ("New York", "America/New_York"),
    ("Los Angeles", "America/Los_Angeles"),
    ("Sydney", "Australia/Sydney"),
    ("Berlin", "Europe/Berlin"),
    ("Chicago", "America/Chicago"),
    ("Singapore", "Asia/Singapore"),
    ("Madrid", "Europe/Madrid"),
    ("Toronto", "America/Toronto"),
    ("Dubai", "Asia/Dubai"),
    ("Moscow", "Europe/Moscow"),
    ("Seoul", "Asia/Seoul"),
    ("Rome", "Europe/Rome"),
)
_TIME_TEMPLATES = (
    "What time is it in {city}?",
    "What is the current time in {city}?",
    "What's the time in {city} right now?",
    "Tell me the current date and time in {zone}.",
    "What time is it now in the {zone} time zone?",
)

_WORDS = [
    "river",
    "stone",
    "light",
    "garden",
    "window",
    "paper",
    "music",
    "winter",
    "orange",
    "cloud",
    "bridge",
    "silver",
    "forest",
    "yellow",
    "quiet",
    "morning",
    "village",
    "ocean",
    "candle",
    "friend",
    "story",
    "market",
    "mountain",
    "little",
    "green",
    "bright",
    "early",
    "table",
    "summer",
    "road",
]
_COUNT_TEMPLATES = (
    "How many words are in '{text}'?",
    "Count the words in this sentence: {text}",
    'How many words does the text "{text}" have?',
    "Use the word counter on: {text}",
)


@dataclass(frozen=True, slots=True)
class ToolQuestion:
    """One question, the tool that answers it, and what a correct answer states.

    ``expected`` is the number (as the calculator formats it) or, for the
    clock, the IANA zone whose current time a correct answer gives.
    """

    category: str
    text: str
    tool: str
    expected: str


@dataclass(frozen=True, slots=True)
class Verdict:
    exact: bool
    wrong_tool: bool
    echo: bool


def tool_questions(seed: int, per_category: int = 13, categories: Sequence[str] = CATEGORIES) -> list[ToolQuestion]:
    """``per_category`` questions of each category, the same for the same seed on every machine."""
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}; choose from {', '.join(CATEGORIES)}")
    rng = random.Random(seed)
    makers = {
        "integer": _integer,
        "negative": _negative,
        "decimal": _decimal,
        "division": _division,
        "large": _large,
        "phrasing": _phrasing,
        "time": _time,
        "user_tool": _user_tool,
    }
    return [makers[category](rng) for category in categories for _ in range(per_category)]


def _arithmetic(rng: random.Random, category: str, a: float | int, op: str, b: float | int) -> ToolQuestion:
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
    expression = f"{a} {op} {b}"
    return ToolQuestion(category, rng.choice(_TEMPLATES).format(e=expression), "calculator", format_number(value))


def _integer(rng: random.Random) -> ToolQuestion:
    op = rng.choice("+-*")
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    if op == "-" and b > a:
        a, b = b, a
    return _arithmetic(rng, "integer", a, op, b)


def _negative(rng: random.Random) -> ToolQuestion:
    a = rng.randint(2, 150)
    b = a + rng.randint(1, 200)
    if rng.random() < 0.3:  # a negative operand
        return _arithmetic(rng, "negative", -b, rng.choice("+*"), a)
    return _arithmetic(rng, "negative", a, "-", b)


def _decimal(rng: random.Random) -> ToolQuestion:
    a = round(rng.uniform(1, 100), rng.choice((1, 2)))
    b = round(rng.uniform(1, 50), rng.choice((1, 2)))
    return _arithmetic(rng, "decimal", a, rng.choice("+-*"), b)


def _division(rng: random.Random) -> ToolQuestion:
    b = rng.choice((2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 25, 56))
    quotient = rng.randint(2, 90) if rng.random() < 0.6 else rng.randint(2, 400) / 4
    a = quotient * b
    return _arithmetic(rng, "division", int(a) if float(a).is_integer() else a, "/", b)


def _large(rng: random.Random) -> ToolQuestion:
    op = rng.choice("+-*")
    if op == "*":
        a, b = rng.randint(100, 9999), rng.randint(11, 999)
    else:
        a, b = rng.randint(10_000, 999_999), rng.randint(1_000, 99_999)
    return _arithmetic(rng, "large", a, op, b)


def _phrasing(rng: random.Random) -> ToolQuestion:
    template, apply = rng.choice(_WORDED)
    a, b = rng.randint(2, 120), rng.randint(2, 60)
    if "divide" in template.lower():
        a = b * rng.randint(2, 30)
    return ToolQuestion("phrasing", template.format(a=a, b=b), "calculator", format_number(apply(a, b)))


def _time(rng: random.Random) -> ToolQuestion:
    city, zone = rng.choice(_CITIES)
    template = rng.choice(_TIME_TEMPLATES)
    return ToolQuestion("time", template.format(city=city, zone=zone), "current_time", zone)


def _user_tool(rng: random.Random) -> ToolQuestion:
    words = rng.sample(_WORDS, rng.randint(3, 9))
    text = " ".join(words).capitalize()
    return ToolQuestion("user_tool", rng.choice(_COUNT_TEMPLATES).format(text=text), "word_count", str(len(words)))


# -- scoring ------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_CLOCK = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{1,2}):(\d{2})")


def score(
    question: ToolQuestion, output: str | None, tools_called: Sequence[str], *, now: datetime | None = None
) -> Verdict:
    """Whether ``output`` states the right answer, a wrong tool was called, or the question was echoed.

    Exact: for numbers, the last number in the answer equals the expected
    value; for the clock, the answer gives the date and the time (to the
    minute, two minutes' slack) in the asked zone.
    """
    text = (output or "").strip()
    wrong_tool = any(name != question.tool for name in tools_called)
    exact = (
        _clock_exact(question.expected, text, now)
        if question.tool == "current_time"
        else _number_exact(question.expected, text)
    )
    return Verdict(exact=exact, wrong_tool=wrong_tool, echo=not exact and _echoes(question.text, text))


def _number_exact(expected: str, text: str) -> bool:
    numbers = _NUMBER.findall(text)
    if not numbers:
        return False
    try:
        value = float(numbers[-1].replace(",", ""))
    except ValueError:
        return False
    target = float(expected)
    return abs(value - target) <= 1e-9 * max(1.0, abs(target))


def _clock_exact(zone: str, text: str, now: datetime | None) -> bool:
    match = _CLOCK.search(text)
    if match is None:
        return False
    date, hour, minute = match.group(1), int(match.group(2)), int(match.group(3))
    local = (now or datetime.now(ZoneInfo("UTC"))).astimezone(ZoneInfo(zone))
    for slack in (-2, -1, 0, 1, 2):
        moment = local + timedelta(minutes=slack)
        if (moment.strftime("%Y-%m-%d"), moment.hour, moment.minute) == (date, hour, minute):
            return True
    return False


def _normalise(text: str) -> str:
    return re.sub(r"[^0-9a-z.+\-*/]+", "", text.lower())


def _echoes(question: str, answer: str) -> bool:
    """The answer is a piece of the question (e.g. ``80 - 89`` for "Compute 80 - 89.")."""
    core = _normalise(answer)
    return bool(core) and core in _normalise(question)
