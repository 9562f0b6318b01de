"""Small formatters for the viewer's pages (registered as Jinja filters)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agorakit.trace.reader import format_duration

#: The longest text block a page shows in full; the rest is cut with a note of how much.
MAX_TEXT = 20_000


duration = format_duration


def seconds(value: float | None) -> str:
    return "-" if value is None else duration(int(value * 1e9))


def cost(usd: float | None) -> str:
    """``$0.0012``; ``$0`` when nothing was spent."""
    return "$" + (f"{usd or 0.0:.6f}".rstrip("0").rstrip(".") or "0")


def when(ns: int | None) -> str:
    """Local wall-clock time of a nanosecond timestamp."""
    return "-" if not ns else datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` up to ``limit`` characters, then how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit:,} more characters)"


def as_text(value: Any) -> str:
    """A string as it is; anything else as indented JSON. A string holding a JSON object or
    array (tool arguments are stored so) is indented too."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and len(stripped) <= MAX_TEXT:
            try:
                return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
            except ValueError:
                return value
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def one_line(text: str | None, limit: int = 120) -> str:
    """One line of at most ``limit`` characters."""
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


FILTERS = {
    "duration": duration,
    "seconds": seconds,
    "cost": cost,
    "when": when,
    "clip": clip,
    "as_text": as_text,
    "one_line": one_line,
}
