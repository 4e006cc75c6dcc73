"""When a text may go out: the sending window in the recipient's local time.

Times are worked out on the local wall clock and only then turned into instants, so a window start on a
daylight-saving change day is still 09:00 local, not 09:00 of yesterday's offset.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from lumisync.subscribers.phones import time_zone_name


def recipient_zone(phone_number: str, fallback: zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo:
    """The time zone of ``phone_number`` when its prefix maps to exactly one zone, else ``fallback``.

    Numbers that span zones (toll-free, whole countries such as Australia) get the organization's zone:
    guessing one of several would text some people at night.
    """
    return zone_or(time_zone_name(phone_number), fallback)


def zone_or(name: str, fallback: zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo:
    """The zone called ``name`` ("" for none), or ``fallback`` when there is none or it is unknown here."""
    if not name:
        return fallback
    try:
        return zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        return fallback


def _at(day: dt.date, clock: dt.time, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    # A wall time skipped by a spring-forward change (fold=0) lands as late as the clocks jumped: 02:30 on
    # the change night becomes 03:30, never earlier than the wall time asked for.
    return dt.datetime.combine(day, clock, tzinfo=zone).astimezone(dt.UTC)


def next_send_time(now: dt.datetime, zone: zoneinfo.ZoneInfo, start: dt.time, end: dt.time) -> dt.datetime:
    """``now`` if the local time in ``zone`` is inside [start, end), else the next window start (UTC).

    A window whose end is not after its start runs past midnight (20:00-02:00); equal ends mean always open.
    """
    if now.tzinfo is None:
        raise ValueError(f"next_send_time needs an aware datetime, got naive {now!r}.")
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        if start <= clock < end:
            return now
        day = local.date() if clock < start else local.date() + dt.timedelta(days=1)
        return _at(day, start, zone)
    if clock >= start or clock < end:
        return now
    return _at(local.date(), start, zone)
