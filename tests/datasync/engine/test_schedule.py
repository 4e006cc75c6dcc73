"""When runs are due, with frozen clocks in two time zones and across daylight-saving changes, and what the
scheduler's tick starts: initial loads, resumed runs, and outbound runs every interval."""

import socket
import subprocess
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from engine_testing import add, publish

from lumisync.datasync.engine import inbound, schedule
from lumisync.datasync.engine.inbound import InboundOptions, run_inbound
from lumisync.datasync.engine.outbound import run_outbound
from lumisync.datasync.engine.schedule import Windows, due, window_bounds
from lumisync.datasync.models import Direction, RunLock, SyncRun

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
    plan = due(
        at_1am, windows(zone), last_inbound_start=None, unfinished_inbound=False, last_outbound_start=None
    )
    assert plan.inbound and not plan.outbound
    assert plan.inbound_deadline == datetime(2026, 3, 2, 5, tzinfo=zone)
    again = due(
        at_1am + timedelta(hours=1),
        windows(zone),
        last_inbound_start=at_1am,
        unfinished_inbound=False,
        last_outbound_start=None,
    )
    assert not again.inbound
    next_night = due(
        at_1am + timedelta(days=1),
        windows(zone),
        last_inbound_start=at_1am,
        unfinished_inbound=False,
        last_outbound_start=None,
    )
    assert next_night.inbound


def test_the_same_instant_is_night_in_one_zone_and_not_in_the_other():
    def inbound_due(instant, zone):
        return due(
            instant,
            windows(zone),
            last_inbound_start=None,
            unfinished_inbound=False,
            last_outbound_start=None,
        ).inbound

    after_new_york_night = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)  # 05:30 New York, 02:30 Los Angeles
    assert not inbound_due(after_new_york_night, NEW_YORK)
    assert inbound_due(after_new_york_night, LOS_ANGELES)
    before_los_angeles_night = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # 03:30 New York, 00:30 Los Angeles
    assert inbound_due(before_los_angeles_night, NEW_YORK)
    assert not inbound_due(before_los_angeles_night, LOS_ANGELES)


def test_outbound_every_five_minutes_in_the_day_window_only():
    noon = local(NEW_YORK, 2026, 6, 1, 12, 0)

    def plan(now, last):
        return due(
            now, windows(NEW_YORK), last_inbound_start=now, unfinished_inbound=False, last_outbound_start=last
        )

    assert plan(noon, None).outbound
    assert not plan(noon + timedelta(minutes=4), noon).outbound
    assert plan(noon + timedelta(minutes=5), noon).outbound
    assert not plan(local(NEW_YORK, 2026, 6, 1, 23, 0), noon).outbound


def test_a_paused_run_waits_for_the_next_night_and_is_due_then_whenever_it_started():
    paused_at_the_end_of_the_night = local(NEW_YORK, 2026, 6, 2, 1, 0)

    def plan(now):
        return due(
            now,
            windows(NEW_YORK),
            last_inbound_start=paused_at_the_end_of_the_night,
            unfinished_inbound=True,
            last_outbound_start=now,
        )

    assert not plan(local(NEW_YORK, 2026, 6, 2, 5, 0)).inbound, "not once its window has closed"
    assert not plan(local(NEW_YORK, 2026, 6, 2, 23, 0)).inbound
    next_night = plan(local(NEW_YORK, 2026, 6, 3, 1, 0))
    assert next_night.inbound and next_night.inbound_deadline == local(NEW_YORK, 2026, 6, 3, 5, 0)


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


# --- tick(): what the scheduler starts, run by run ---------------------------------------------------------


class Died(BaseException):
    """The process running the scheduler is killed: nothing of the run is closed."""


@pytest.fixture
def started(monkeypatch):
    """tick() runs each run it starts at once, on the test's thread, and lists what it started."""
    runs = []

    def start_now(integration_id, direction, target):
        runs.append(direction)
        target()
        return True

    monkeypatch.setattr(schedule, "_start", start_now)
    return runs


def inbound_runs(integration):
    return SyncRun.objects.filter(integration=integration, direction=Direction.INBOUND, dry_run=False)


def test_the_first_night_is_the_initial_load_chosen_at_activation_even_after_a_preview_and_an_outbound_run(
    make_integration, simulator, organization, paths, started
):
    integration = make_integration(initial_load_requested=True)
    add(simulator, "first@example.org", "2025550501")
    publish(simulator)
    run_inbound(integration, InboundOptions(dry_run=True))
    run_outbound(integration)
    night = datetime(2026, 6, 2, 1, 30, tzinfo=organization.zone)

    with time_machine.travel(night, tick=True):
        assert schedule.tick() == [(integration.pk, Direction.INBOUND)]
    initial = inbound_runs(integration).get()
    integration.refresh_from_db()

    assert initial.initial_load and initial.status == SyncRun.Status.SUCCEEDED
    assert integration.initial_load_completed_at == initial.finished_at
    with time_machine.travel(night + timedelta(days=1), tick=True):
        assert schedule.tick() == [(integration.pk, Direction.INBOUND)]
    assert list(inbound_runs(integration).order_by("started_at").values_list("initial_load", flat=True)) == [
        True,
        False,
    ]


def test_an_initial_load_that_failed_is_tried_again_the_next_night(
    make_integration, simulator, organization, started
):
    integration = make_integration(initial_load_requested=True)
    add(simulator, "again@example.org", "2025550502")
    publish(simulator)
    simulator.faults.inject("getUser", "error", code=2)
    night = datetime(2026, 6, 2, 1, 30, tzinfo=organization.zone)

    with time_machine.travel(night, tick=True):
        schedule.tick()
    simulator.faults.clear()
    with time_machine.travel(night + timedelta(days=1), tick=True):
        schedule.tick()

    assert list(inbound_runs(integration).order_by("started_at").values_list("status", "initial_load")) == [
        (SyncRun.Status.FAILED, True),
        (SyncRun.Status.SUCCEEDED, True),
    ]
    integration.refresh_from_db()
    assert integration.initial_load_completed_at is not None


def test_an_inbound_run_whose_process_died_is_resumed_the_same_night(
    make_integration, simulator, organization, started, monkeypatch
):
    integration = make_integration()
    people = [add(simulator, f"night{n}@example.org", f"20255505{10 + n}") for n in range(2)]
    publish(simulator)
    night = datetime(2026, 6, 2, 1, 30, tzinfo=organization.zone)

    def killed(*args, **kwargs):
        raise Died

    with time_machine.travel(night, tick=True), monkeypatch.context() as patched:
        patched.setattr(inbound, "_work", killed)
        with pytest.raises(Died):
            schedule.tick()
    crashed = inbound_runs(integration).get()
    assert crashed.status == SyncRun.Status.RUNNING
    # kill -9 leaves its lease behind, held by a process that is gone.
    gone = subprocess.Popen(["true"])
    gone.wait()
    RunLock.objects.create(
        integration=integration,
        scope=RunLock.Scope.INTEGRATION,
        direction=Direction.INBOUND,
        holder=f"{socket.gethostname()}:{gone.pid}:dead",
        expires_at=timezone.now() + timedelta(minutes=10),
    )

    with time_machine.travel(night + timedelta(hours=1), tick=True):
        assert schedule.tick() == [(integration.pk, Direction.INBOUND)]

    resumed = inbound_runs(integration).get()
    assert resumed.pk == crashed.pk and resumed.status == SyncRun.Status.SUCCEEDED
    assert sorted(resumed.records.values_list("constituent_id", flat=True)) == sorted(people)


def test_a_paused_run_is_resumed_by_the_next_nights_tick(
    make_integration, simulator, organization, started, monkeypatch
):
    monkeypatch.setattr(inbound, "CHUNK_SIZE", 1)
    integration = make_integration()
    for n in range(2):
        add(simulator, f"paused{n}@example.org", f"20255505{20 + n}")
    publish(simulator)
    night = datetime(2026, 6, 2, 4, 59, tzinfo=organization.zone)
    with time_machine.travel(night, tick=True):
        # As the night's run started by tick() meets the end of its window after its first chunk.
        paused = schedule.run_sync(
            integration,
            Direction.INBOUND,
            InboundOptions(trigger=SyncRun.Trigger.SCHEDULE, deadline=timezone.now()),
        )
    assert (paused.status, paused.done) == (SyncRun.Status.PAUSED, 1)

    with time_machine.travel(night + timedelta(minutes=30), tick=True):
        assert schedule.tick() == [], "not after the window has closed"
    with time_machine.travel(night + timedelta(days=1) - timedelta(hours=3), tick=True):
        assert schedule.tick() == [(integration.pk, Direction.INBOUND)]

    resumed = inbound_runs(integration).get()
    assert (resumed.pk, resumed.status, resumed.done) == (paused.pk, SyncRun.Status.SUCCEEDED, 2)


def test_a_one_minute_interval_starts_an_outbound_run_at_every_tick(make_integration, organization, started):
    integration = make_integration(outbound_interval_minutes=1)
    noon = datetime(2026, 6, 2, 12, 0, tzinfo=organization.zone)

    # The clock runs on while the run starts: it starts a moment after the tick that started it.
    with time_machine.travel(noon, tick=True):
        assert schedule.tick(noon) == [(integration.pk, Direction.OUTBOUND)]
        assert schedule.tick(noon + timedelta(seconds=59)) == []
        assert schedule.tick(noon + timedelta(minutes=1)) == [(integration.pk, Direction.OUTBOUND)]
