"""The normalized tokens of a text or a value, so that equal data written two ways compares equal.

Provenance checks (does this argument's value occur in what the user wrote?)
compare token sequences, not raw strings. :func:`tokens` turns a text into
its tokens, applying in order:

1. Unicode NFKC (full-width digits, ligatures) and case folding.
2. IBANs written in groups (``DE89 3704 0044 0532 0130 00``) are joined into
   one token, as banks print them without spaces too. Only groups in
   capitals are joined, so ordinary words next to a code stay apart.
3. URL forms: the scheme (``http://``, ``https://``, ``ftp://``) and a
   default port (``:80``, ``:443``) are dropped; a trailing slash is
   punctuation (below), so ``https://www.example.com:443/`` and
   ``www.example.com`` have the same tokens.
4. Tokens are runs of letters, digits and ``_``; everything else (spaces,
   punctuation, ``@``, ``/``, ``-``) only separates them.
5. Numbers: thousands separators go (``1,000`` is ``1000``), and so do
   trailing zeros of a fraction (``1000.0`` and ``1000.00`` are ``1000``;
   ``12.50`` is ``12.5``). Leading zeros stay (``0044`` is not ``44``). A
   dotted run such as ``10.0.0.1`` stays one token. Decimal commas
   (``1.000,50``) are not understood.

:func:`value_tokens` does the same for a tool argument: a number becomes its
decimal token (``1000.0`` is ``1000``; its sign, like a ``-`` in text, is
punctuation), a boolean ``true``/``false``.

Dates: :func:`date_keys` lists the calendar days a text writes with a month
name, as extra lookup keys. A day is a month name (``January``, ``Jan``,
``Sept``) next to a day number (``11``, ``11th``; 1 to 31), in either order,
with ``of`` allowed between day and month (``the 14th of November``), and a
four-digit year right after (``January 11th 2025``, ``May 1st, 2024``):
tokens are compared, so spaces and punctuation between the parts do not
matter. A day with a year gives the key ``2025 01 11`` (the tokens of the
ISO form ``2025-01-11``); one without, the year-less key ``~01-11`` (no token
holds ``~``, so it never meets ordinary text). An ISO date in a text needs no
key: its tokens already are ``2025 01 11``. :func:`date_value` reads an
argument that is an ISO date or date-time (``2025-01-11``,
``2025-01-11 09:00``, ``2025-01-11T09:00:00``) as the keys of its day.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# A country code, two check digits, then groups of four capitals or digits and a shorter tail.
_SPACED_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?\b")
_SCHEME = re.compile(r"\b(?:https?|ftp)://", re.IGNORECASE)
_DEFAULT_PORT = re.compile(r"(?<=[\w.-]):(?:80|443)(?=[/?#\s]|$)")
# A numeric run not glued to letters (``12abc`` is one word), else a word.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?!\w)|\w+")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL = re.compile(r"\d+\.\d+")

_MONTH_NAMES: tuple[tuple[str, ...], ...] = (
    ("jan", "january"),
    ("feb", "february"),
    ("mar", "march"),
    ("apr", "april"),
    ("may",),
    ("jun", "june"),
    ("jul", "july"),
    ("aug", "august"),
    ("sep", "sept", "september"),
    ("oct", "october"),
    ("nov", "november"),
    ("dec", "december"),
)
_MONTH_NUMBERS: dict[str, int] = {name: number for number, names in enumerate(_MONTH_NAMES, start=1) for name in names}
_DAY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")
_YEAR_TOKEN = re.compile(r"\d{4}")
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def tokens(text: str) -> list[str]:
    """The normalized tokens of ``text`` (see the module's docstring for the rules)."""
    if text.isascii():
        if text.isalnum():  # one word or one number without separators: the common argument
            return [text.lower()]
    else:
        text = unicodedata.normalize("NFKC", text)
    if " " in text:
        text = _SPACED_IBAN.sub(_join_groups, text)
    if "://" in text:
        text = _SCHEME.sub(" ", text)
    if ":" in text:
        text = _DEFAULT_PORT.sub("", text)
    found = _TOKEN.findall(text.casefold())
    if not any(token[0].isdigit() for token in found):
        return found
    out: list[str] = []
    for token in found:
        if token[0].isdigit() and ("," in token or "." in token):
            out.extend(_number(token))
        else:
            out.append(token)
    return out


def value_tokens(value: Any) -> list[str]:
    """The normalized tokens of one argument value (a string, number or boolean)."""
    if isinstance(value, str):
        return tokens(value)
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [str(value)] if value >= 0 else [str(-value)]
    if isinstance(value, float):
        if value.is_integer():
            return [str(int(abs(value)))]
        return tokens(f"{abs(value):.17f}" if "e" in repr(value) else repr(abs(value)))
    return tokens(str(value))


def _join_groups(match: re.Match[str]) -> str:
    return match.group().replace(" ", "")


def _number(token: str) -> list[str]:
    """``1,000.50`` -> ``1000.5``; a comma list ``10,20`` -> ``10``, ``20``; ``10.0.0.1`` as is."""
    if "," in token:
        if _THOUSANDS.fullmatch(token) is None:
            return [part for piece in token.split(",") for part in _number(piece)]
        token = token.replace(",", "")
    if _DECIMAL.fullmatch(token) is not None:
        whole, fraction = token.split(".")
        fraction = fraction.rstrip("0")
        return [f"{whole}.{fraction}" if fraction else whole]
    return [token]


def date_keys(text: str) -> list[str]:
    """The lookup keys of the days ``text`` writes with a month name (see the module's docstring)."""
    return token_date_keys(tokens(text))


def token_date_keys(words: list[str]) -> list[str]:
    """:func:`date_keys` of a text already cut into its normalized tokens.

    A day is a month name (full, three letters, or ``sept``) next to a day number (1 to 31,
    ``1st``, ``2nd``, ``3rd``, ``11th``), in either order, with ``of`` allowed between a day
    and its month; a four-digit year right after makes it that year's day.
    """
    keys: list[str] = []
    count = len(words)
    for index, word in enumerate(words):
        month = _MONTH_NUMBERS.get(word)
        if month is None:
            continue
        after = index + 1
        if after < count and (day := _day(words[after])):  # "May 1st 2024"
            keys.append(_key(month, day, words, after + 1))
        before = index - 2 if index >= 2 and words[index - 1] == "of" else index - 1
        if before >= 0 and (day := _day(words[before])):  # "the 1st of May 2024"
            keys.append(_key(month, day, words, after))
    return keys


def _day(word: str) -> int:
    match = _DAY.fullmatch(word)
    if match is None:
        return 0
    day = int(match.group(1))
    return day if day <= 31 else 0


def _key(month: int, day: int, words: list[str], year_at: int) -> str:
    if year_at < len(words) and _YEAR_TOKEN.fullmatch(words[year_at]):
        return f"{words[year_at]} {month:02d} {day:02d}"
    return f"~{month:02d}-{day:02d}"


def date_value(value: str) -> tuple[list[str], str] | None:
    """An ISO date or date-time argument as (the tokens of its day, its year-less key), else None.

    ``2025-01-11 09:00`` gives (``["2025", "01", "11"]``, ``"~01-11"``): the time of day is not
    part of the day.
    """
    if len(value) < 10 or not value[0].isdigit():
        return None
    match = _ISO_DAY.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day = match.groups()
    return [year, month, day], f"~{month}-{day}"
