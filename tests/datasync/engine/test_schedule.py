"""When runs are due, with frozen clocks in two time zones and across daylight-saving changes."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from lumisync.datasync.engine.schedule import Windows, due, window_bounds

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def windows(zone):
    return Windows(
        zone=zone, overnight=(time(1), time(5)), day=(time(6), time(22)), outbound_every=timedelta(minutes=5)
    )


def local(zone, *args):
    return datetime(*args, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize("zone", [NEW_YORK, LOS_ANGELES])
def test_inbound_is_due_once_per_overnight_window_in_local_time(zone):
    at_1am = local(zone, 2026, 3, 2, 1, 30)
    plan = due(at_1am, windows(zone), last_inbound_start=None, paused_inbound=False, last_outbound_start=None)
    assert plan.inbound and not plan.outbound
    assert plan.inbound_deadline == datetime(2026, 3, 2, 5, tzinfo=zone)
    again = due(
        at_1am + timedelta(hours=1),
        windows(zone),
        last_inbound_start=at_1am,
        paused_inbound=False,
        last_outbound_start=None,
    )
    assert not again.inbound
    next_night = due(
        at_1am + timedelta(days=1),
        windows(zone),
        last_inbound_start=at_1am,
        paused_inbound=False,
        last_outbound_start=None,
    )
    assert next_night.inbound


def test_the_same_instant_is_night_in_one_zone_and_not_in_the_other():
    instant = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 04:00 New York, 01:00 Los Angeles
    assert due(
        instant, windows(NEW_YORK), last_inbound_start=None, paused_inbound=False, last_outbound_start=None
    ).inbound
    assert due(
        instant, windows(LOS_ANGELES), last_inbound_start=None, paused_inbound=False, last_outbound_start=None
    ).inbound
    later = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)  # 07:30 New York, 04:30 Los Angeles
    assert not due(
        later, windows(NEW_YORK), last_inbound_start=None, paused_inbound=False, last_outbound_start=None
    ).inbound
    assert due(
        later, windows(LOS_ANGELES), last_inbound_start=None, paused_inbound=False, last_outbound_start=None
    ).inbound


def test_outbound_every_five_minutes_in_the_day_window_only():
    noon = local(NEW_YORK, 2026, 6, 1, 12, 0)

    def plan(now, last):
        return due(
            now, windows(NEW_YORK), last_inbound_start=now, paused_inbound=False, last_outbound_start=last
        )

    assert plan(noon, None).outbound
    assert not plan(noon + timedelta(minutes=4), noon).outbound
    assert plan(noon + timedelta(minutes=5), noon).outbound
    assert not plan(local(NEW_YORK, 2026, 6, 1, 23, 0), noon).outbound


def test_a_paused_run_resumes_the_next_night():
    night = local(NEW_YORK, 2026, 6, 2, 1, 5)
    plan = due(
        night,
        windows(NEW_YORK),
        last_inbound_start=night - timedelta(minutes=1),
        paused_inbound=True,
        last_outbound_start=None,
    )
    assert plan.inbound


def test_spring_forward_keeps_local_window_times():
    # 2026-03-08: New York clocks jump from 02:00 to 03:00.
    start, end = window_bounds(local(NEW_YORK, 2026, 3, 8, 3, 30), NEW_YORK, time(1), time(5))
    assert (start.astimezone(NEW_YORK).hour, end.astimezone(NEW_YORK).hour) == (1, 5)
    assert end - start == timedelta(hours=3)


def test_fall_back_night_is_an_hour_longer():
    # 2026-11-01: New York clocks go from 02:00 back to 01:00.
    start, end = window_bounds(local(NEW_YORK, 2026, 11, 1, 4, 0), NEW_YORK, time(1), time(5))
    assert end - start == timedelta(hours=5)


def test_a_window_across_midnight():
    bounds = window_bounds(local(NEW_YORK, 2026, 6, 2, 0, 30), NEW_YORK, time(22), time(2))
    assert bounds is not None
    assert bounds[0] == datetime(2026, 6, 1, 22, tzinfo=NEW_YORK)
    assert window_bounds(local(NEW_YORK, 2026, 6, 2, 12, 0), NEW_YORK, time(22), time(2)) is None
