"""Time zones as people and models write them: IANA names, UTC offsets, common abbreviations.

Accepted (case-insensitive):

* an IANA name: ``Europe/Paris``, ``america/new_york``, ``UTC``;
* a UTC offset, with or without a ``UTC``/``GMT`` prefix: ``UTC+2``, ``UTC+05:30``,
  ``GMT-5``, ``+0530``, ``-08:00``, ``UTC-00:00:00``, ``Z``;
* an abbreviation that names one place: ``EST``/``EDT``/``ET`` (New York),
  ``PST``/``PDT``/``PT`` (Los Angeles), ``CET``/``CEST`` (Paris), ``JST`` (Tokyo)...
  Ambiguous ones (``CST``, ``IST``, ``BST``) are refused with the reason.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_UTC_NAMES = {"UTC", "Z", "GMT", "UT", "ZULU", "ETC/UTC", "ETC/GMT", "UTC0", "GMT0"}

# Abbreviations for one region each, mapped to that region's zone (so daylight time is right).
ABBREVIATIONS: dict[str, str] = {
    "ET": "America/New_York",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "CDT": "America/Chicago",
    "MT": "America/Denver",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "PT": "America/Los_Angeles",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "AKST": "America/Anchorage",
    "HST": "Pacific/Honolulu",
    "WET": "Europe/Lisbon",
    "CET": "Europe/Paris",
    "CEST": "Europe/Paris",
    "EET": "Europe/Athens",
    "EEST": "Europe/Athens",
    "MSK": "Europe/Moscow",
    "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul",
    "HKT": "Asia/Hong_Kong",
    "SGT": "Asia/Singapore",
    "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney",
    "NZST": "Pacific/Auckland",
    "NZDT": "Pacific/Auckland",
}
AMBIGUOUS: dict[str, str] = {
    "CST": "US Central, China or Cuba",
    "IST": "India, Ireland or Israel",
    "BST": "British Summer Time or Bangladesh",
    "AST": "Atlantic or Arabia",
}

ACCEPTED_FORMS = (
    "an IANA name such as 'UTC', 'Europe/Paris' or 'America/New_York', or its city ('Paris', 'New York'); "
    "a UTC offset such as 'UTC+2', 'UTC-05:30', 'GMT-5', '+0530', '-08:00' or 'Z'; "
    f"or one of the abbreviations {', '.join(ABBREVIATIONS)}"
)

_OFFSET = re.compile(r"(?:UTC|GMT|UT)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")


def zone_for(name: str) -> tzinfo:
    """The time zone ``name`` stands for; ``ValueError`` listing the accepted forms otherwise."""
    key = name.strip()
    upper = key.upper()
    # UTC needs no time zone database (Windows has none unless the tzdata package is installed).
    if upper in _UTC_NAMES:
        return UTC
    offset = _OFFSET.fullmatch(upper)
    if offset is not None:
        return _fixed_offset(name, *offset.groups())
    if upper in ABBREVIATIONS:
        return ZoneInfo(ABBREVIATIONS[upper])
    if upper in AMBIGUOUS:
        raise ValueError(
            f"the time zone {name!r} is ambiguous ({AMBIGUOUS[upper]}); give an IANA name or a UTC offset instead"
        )
    iana = _iana_names().get(key.lower()) or _cities().get(key.lower().replace(" ", "_"))
    if iana is not None:
        try:
            return ZoneInfo(iana)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise ValueError(f"unknown time zone {name!r}; use {ACCEPTED_FORMS}")


def _fixed_offset(name: str, sign: str, hours: str, minutes: str | None, seconds: str | None) -> tzinfo:
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0), seconds=int(seconds or 0))
    widest = timedelta(hours=12 if sign == "-" else 14)
    if int(minutes or 0) >= 60 or int(seconds or 0) >= 60 or delta > widest:
        raise ValueError(f"{name!r} is not a UTC offset; offsets run from -12:00 to +14:00, e.g. 'UTC+05:30'")
    if not delta:
        return UTC
    return timezone(-delta if sign == "-" else delta)


@functools.cache
def _iana_names() -> dict[str, str]:
    """Every IANA name by its lower-case spelling (models write 'europe/paris')."""
    return {zone.lower(): zone for zone in available_timezones()}


@functools.cache
def _cities() -> dict[str, str]:
    """IANA zones by their city, where only one zone has it ('tokyo' → Asia/Tokyo, 'new_york' →
    America/New_York): models and people name the place, not the zone."""
    found: dict[str, list[str]] = {}
    for zone in available_timezones():
        if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "US/")):
            found.setdefault(zone.rsplit("/", 1)[1].lower(), []).append(zone)
    return {city: zones[0] for city, zones in found.items() if len(zones) == 1}
