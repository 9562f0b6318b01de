"""String formats a ``format`` constraint can demand.

Each checker takes a ``str`` and says whether it is well formed. They are
strict on purpose (a policy fails closed): ``date-time`` is RFC 3339 with
seconds and an offset, ``url`` needs a scheme and a host, ``ipv4`` rejects
leading zeros (Python's ``ipaddress`` does).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import urlsplit

# RFC 5322's dot-atom local part and a dotted host name with at least two labels.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
# RFC 3986 scheme, then anything without whitespace or control characters.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# RFC 3339 section 5.6 (a space may replace the T, as its note allows).
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def _email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL.fullmatch(value) is not None


def _uri(value: str) -> bool:
    if _URI.fullmatch(value) is None:
        return False
    try:
        urlsplit(value)  # rejects a malformed [IPv6] host
    except ValueError:
        return False
    return True


def _url(value: str) -> bool:
    if not _uri(value):
        return False
    parts = urlsplit(value)
    return bool(parts.hostname)


def _date(value: str) -> bool:
    if _DATE.fullmatch(value) is None:
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _date_time(value: str) -> bool:
    if _DATE_TIME.fullmatch(value) is None:
        return False
    text = value.replace("t", "T").replace("z", "+00:00").replace("Z", "+00:00")
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _hostname(value: str) -> bool:
    return len(value) <= 253 and _HOSTNAME.fullmatch(value) is not None


FORMATS: dict[str, Callable[[str], bool]] = {
    "date": _date,
    "date-time": _date_time,
    "email": _email,
    "hostname": _hostname,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "uri": _uri,
    "url": _url,
}
