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
