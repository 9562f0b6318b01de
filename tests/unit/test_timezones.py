"""current_time's time zones: IANA names, UTC offsets as models write them, unambiguous abbreviations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agorakit.tools import current_time
from agorakit.tools.timezones import zone_for

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # winter: no daylight time in the northern zones below


@pytest.mark.parametrize(
    ("zone", "offset"),
    [
        ("UTC-00:00:00", timedelta(0)),
        ("UTC+2", timedelta(hours=2)),
        ("UTC+05:30", timedelta(hours=5, minutes=30)),
        ("GMT-5", timedelta(hours=-5)),
        ("+0530", timedelta(hours=5, minutes=30)),
        ("-08:00", timedelta(hours=-8)),
        ("utc - 3", timedelta(hours=-3)),
        ("UTC+14", timedelta(hours=14)),
        ("Z", timedelta(0)),
        ("gmt", timedelta(0)),
        ("EST", timedelta(hours=-5)),
        ("PST", timedelta(hours=-8)),
        ("CET", timedelta(hours=1)),
        ("JST", timedelta(hours=9)),
        ("europe/paris", timedelta(hours=1)),
        ("America/New_York", timedelta(hours=-5)),
    ],
)
def test_zone_forms_models_write(zone: str, offset: timedelta) -> None:
    assert NOW.astimezone(zone_for(zone)).utcoffset() == offset


def test_abbreviations_follow_daylight_time_of_their_place() -> None:
    summer = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert summer.astimezone(zone_for("EST")).utcoffset() == timedelta(hours=-4)
    assert summer.astimezone(zone_for("CEST")).utcoffset() == timedelta(hours=2)


def test_the_failing_offset_from_issue_9_gives_the_time() -> None:
    moment = datetime.fromisoformat(current_time("UTC-00:00:00"))
    assert moment.utcoffset() == timedelta(0)
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "tomorrow", "Europe", ""])
def test_unknown_zones_are_told_every_accepted_form(zone: str) -> None:
    with pytest.raises(ValueError) as raised:
        current_time(zone)
    message = str(raised.value)
    assert message.startswith(f"unknown time zone {zone!r}; use an IANA name such as 'UTC', 'Europe/Paris'")
    for form in ("'UTC+2'", "'UTC-05:30'", "'GMT-5'", "'+0530'", "'-08:00'", "'Z'", "EST", "PST", "CET", "JST"):
        assert form in message


@pytest.mark.parametrize("zone", ["UTC+25", "+05:75", "-13", "UTC+14:30"])
def test_offsets_out_of_range_say_the_range(zone: str) -> None:
    with pytest.raises(ValueError, match=r"offsets run from -12:00 to \+14:00"):
        current_time(zone)


@pytest.mark.parametrize("zone", ["CST", "IST", "bst"])
def test_ambiguous_abbreviations_are_refused_with_the_reason(zone: str) -> None:
    with pytest.raises(ValueError, match="is ambiguous"):
        zone_for(zone)


def test_a_city_names_its_zone() -> None:
    # Models and people name the place: "What time is it in Tokyo?" → timezone="Tokyo".
    assert str(zone_for("Tokyo")) == "Asia/Tokyo"
    assert str(zone_for("New York")) == "America/New_York"
    assert str(zone_for("los angeles")) == "America/Los_Angeles"
    with pytest.raises(ValueError, match="or its city"):
        zone_for("Atlantis")
