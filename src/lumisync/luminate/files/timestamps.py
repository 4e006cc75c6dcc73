"""Timestamps as the changed-records file writes them (luminate-api.md §11.2), in site local time."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from functools import lru_cache

# ``MM/DD/YYYY hh:mm AM`` (report style), seconds optional; parsed by hand because strptime costs ~10 µs a
# value, too slow for a million-row file.
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp])\.?[Mm]\.?")


# An export's timestamps repeat heavily (a night's file spans at most 1,440 minutes), so parsing each distinct
# text once keeps a million-row file fast.
@lru_cache(maxsize=65536)
def parse_timestamp(value: str, tz: tzinfo | None = None) -> datetime:
    """Parse ``YYYY-MM-DD HH:MM:SS``, ISO 8601 (with or without offset) or ``MM/DD/YYYY hh:mm AM``.

    A value without an offset is site local time: with ``tz`` it becomes aware in ``tz``, without it stays
    naive. A value with an offset keeps it. Raises ``ValueError`` naming the value.
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _parse_us(text)
    if tz is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def _parse_us(text: str) -> datetime:
    match = _US.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a timestamp in a known format "
            "(YYYY-MM-DD HH:MM:SS, ISO 8601, or MM/DD/YYYY hh:mm AM)"
        )
    month, day, year, hour, minute, second, half = match.groups()
    hour_12 = int(hour)
    if not 1 <= hour_12 <= 12:
        raise ValueError(f"{text!r} has hour {hour_12}, which is not valid with AM/PM")
    hour_24 = hour_12 % 12 + (12 if half in "Pp" else 0)
    try:
        return datetime(int(year), int(month), int(day), hour_24, int(minute), int(second or 0))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date and time ({exc})") from None
