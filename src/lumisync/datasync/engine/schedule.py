"""When runs are due: one pure function over the clock and the integration's windows, and the in-process
tick that ``lumisync serve`` calls every minute to start what is due; :func:`run_sync` runs a direction
the same way for the scheduler and for ``lumisync sync`` (initial-load bookkeeping, alerts, failures).

Windows are wall-clock times in the organization's time zone; a window may cross midnight. Across a
daylight-saving change the window keeps its local times (it is an hour shorter or longer that night).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db import close_old_connections
from django.utils import timezone

from lumisync.datasync.engine import alerts
from lumisync.datasync.engine.locks import RunInProgress, is_running
from lumisync.datasync.models import Direction, Integration, SyncRun

if TYPE_CHECKING:
    from lumisync.datasync.engine.inbound import InboundOptions
    from lumisync.datasync.engine.outbound import OutboundOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Windows:
    zone: ZoneInfo
    overnight: tuple[time, time]
    day: tuple[time, time]
    outbound_every: timedelta


@dataclass(frozen=True)
class Due:
    inbound: bool
    inbound_deadline: datetime | None
    outbound: bool


def window_bounds(now: datetime, zone: ZoneInfo, start: time, end: time) -> tuple[datetime, datetime] | None:
    """The (start, end) of the window containing ``now``, in UTC, or None outside it.

    Comparisons happen in UTC: Python compares two datetimes of one zone by wall time, which is wrong in
    the hour a fall-back repeats.
    """
    instant = now.astimezone(UTC)
    today = now.astimezone(zone).date()
    for first_day in (today, today - timedelta(days=1)):
        opens = _at(first_day, start, zone)
        closes = _at(first_day + timedelta(days=1) if end <= start else first_day, end, zone)
        if opens <= instant < closes:
            return opens, closes
    return None


def _at(day: date, moment: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def due(
    now: datetime,
    windows: Windows,
    *,
    last_inbound_start: datetime | None,
    unfinished_inbound: bool,
    last_outbound_start: datetime | None,
) -> Due:
    """What should start now: the nightly inbound run once per overnight window (or the resumption of an
    unfinished one: paused, or left running by a process that died), and the outbound run every
    ``outbound_every`` within the day window."""
    night = window_bounds(now, windows.zone, *windows.overnight)
    inbound = night is not None and (
        unfinished_inbound or last_inbound_start is None or last_inbound_start < night[0]
    )
    day = window_bounds(now, windows.zone, *windows.day)
    outbound = day is not None and (
        last_outbound_start is None or now - last_outbound_start >= windows.outbound_every
    )
    return Due(inbound=inbound, inbound_deadline=night[1] if night else None, outbound=outbound)


def windows_of(integration: Integration) -> Windows:
    return Windows(
        zone=integration.organization.zone,
        overnight=(integration.overnight_window_start, integration.overnight_window_end),
        day=(integration.day_window_start, integration.day_window_end),
        outbound_every=timedelta(minutes=max(1, integration.outbound_interval_minutes)),
    )


def _last_start(integration: Integration, direction: str) -> datetime | None:
    run = (
        SyncRun.objects.filter(integration=integration, direction=direction, dry_run=False)
        .order_by("-started_at")
        .first()
    )
    return run.started_at if run else None


def _unfinished_inbound(integration: Integration) -> bool:
    """Whether an inbound run waits to be resumed: paused at the end of a window, or still "running" with
    no live holder (its process died: ``serve`` killed in the night), which is resumed the same night."""
    unfinished = SyncRun.objects.filter(integration=integration, direction=Direction.INBOUND, dry_run=False)
    return unfinished.filter(status=SyncRun.Status.PAUSED).exists() or (
        unfinished.filter(status=SyncRun.Status.RUNNING).exists()
        and not is_running(integration, Direction.INBOUND)
    )


def plan_of(integration: Integration, now: datetime) -> Due:
    """What :func:`due` says for ``integration`` now, from its windows and its runs so far (active or not:
    the set-up pages ask it what activating would start)."""
    return due(
        now,
        windows_of(integration),
        last_inbound_start=_last_start(integration, Direction.INBOUND),
        unfinished_inbound=_unfinished_inbound(integration),
        last_outbound_start=_last_start(integration, Direction.OUTBOUND),
    )


def run_sync(integration: Integration, direction: str, options: InboundOptions | OutboundOptions) -> SyncRun:
    """Run one direction of ``integration`` as the scheduler and ``lumisync sync`` both do.

    After the run: an initial load that completed (succeeded or partial) is recorded on the integration, so
    the next night's run is an ordinary one, and the state the run leaves is recorded (``alerts``). A run
    that raises counts as failed: an inbound run it left "running" is closed as failed (the next run takes
    over the chunks it did not reach; an outbound run closes itself), the Administrators are told, and the
    error propagates.

    Raises:
        RunInProgress: another run holds a lock this one needs; nothing is recorded.
    """
    from lumisync.datasync.engine.inbound import run_inbound
    from lumisync.datasync.engine.outbound import run_outbound

    engine = run_inbound if direction == Direction.INBOUND else run_outbound
    try:
        run = engine(integration, options)
    except RunInProgress:
        raise
    except Exception as exc:
        error = f"The run stopped on an unexpected error: {exc!r}"
        if direction == Direction.INBOUND:
            _close_unfinished_inbound(integration, error, dry_run=options.dry_run)
        if not options.dry_run:
            alerts.run_raised(integration, direction, error)
        raise
    if (
        run.initial_load
        and not run.dry_run
        and run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
    ):
        Integration.objects.filter(pk=integration.pk, initial_load_completed_at__isnull=True).update(
            initial_load_completed_at=run.finished_at
        )
    alerts.after_run(run)
    return run


def _close_unfinished_inbound(integration: Integration, error: str, *, dry_run: bool) -> None:
    """Close the inbound run that raised (the newest left "running" with no live holder) as failed, so the
    report does not show it running for ever."""
    from lumisync.datasync.engine import inbound

    if is_running(integration, Direction.INBOUND):
        return
    run = (
        SyncRun.objects.filter(
            integration=integration,
            direction=Direction.INBOUND,
            dry_run=dry_run,
            status=SyncRun.Status.RUNNING,
        )
        .order_by("-started_at")
        .first()
    )
    if run is not None:
        inbound.fail_run(run, error)


_running: dict[tuple[int, str], threading.Thread] = {}
_running_lock = threading.Lock()
# Integrations whose outbound run should go once more as soon as the current one ends (near-real-time).
_again: set[tuple[int, str]] = set()


def _start(integration_id: int, direction: str, target) -> bool:
    key = (integration_id, direction)
    with _running_lock:
        thread = _running.get(key)
        if thread is not None and thread.is_alive():
            return False

        def body():
            try:
                target()
            except RunInProgress as exc:
                # Not a failure: the other run goes on, and the schedule tries again at its next tick.
                log.info("scheduled %s run of integration %s waits: %s", direction, integration_id, exc)
            except Exception:
                log.exception("scheduled %s run of integration %s failed", direction, integration_id)
            finally:
                close_old_connections()

        thread = threading.Thread(target=body, name=f"lumisync-{direction}-{integration_id}", daemon=True)
        _running[key] = thread
        thread.start()
        return True


def tick(now: datetime | None = None) -> list[tuple[int, str]]:
    """Start every run that is due, each on its own thread; returns what was started."""
    from lumisync.datasync.engine.inbound import InboundOptions
    from lumisync.datasync.engine.outbound import OutboundOptions

    now = now or timezone.now()
    started = []
    for integration in Integration.objects.filter(active=True).select_related("organization"):
        plan = plan_of(integration, now)
        if plan.inbound:
            options = InboundOptions(
                trigger=SyncRun.Trigger.SCHEDULE,
                deadline=plan.inbound_deadline,
                # The Administrator's choice at first activation, until an initial run completes (a preview
                # or an outbound run before it changes nothing).
                initial=integration.initial_load_requested and integration.initial_load_completed_at is None,
            )
            if _start(integration.pk, Direction.INBOUND, lambda i=integration, o=options: _nightly(i, o)):
                started.append((integration.pk, Direction.INBOUND))
        if plan.outbound:
            options = OutboundOptions(trigger=SyncRun.Trigger.SCHEDULE, scheduled_at=now)
            if _start(
                integration.pk,
                Direction.OUTBOUND,
                lambda i=integration, o=options: run_sync(i, Direction.OUTBOUND, o),
            ):
                started.append((integration.pk, Direction.OUTBOUND))
    return started


def _nightly(integration: Integration, options: InboundOptions) -> None:
    run_sync(integration, Direction.INBOUND, options)
    if integration.near_real_time:
        # Outbound runs during the inbound run sent opt-outs only; what they left goes now, not at the
        # first tick of the day window.
        kick_outbound(integration)


def kick_outbound(integration: Integration) -> None:
    """Near-real-time mode: send what changed now rather than at the next five-minute run.

    If an outbound run of the integration is already going in this process, one more follows right after
    it, so a change made during a run never waits for the schedule.
    """
    from lumisync.datasync.engine.outbound import OutboundOptions

    key = (integration.pk, Direction.OUTBOUND)

    def until_nothing_new():
        while True:
            run_sync(integration, Direction.OUTBOUND, OutboundOptions(trigger=SyncRun.Trigger.SCHEDULE))
            with _running_lock:
                if key not in _again:
                    return
                _again.discard(key)

    if not _start(integration.pk, Direction.OUTBOUND, until_nothing_new):
        with _running_lock:
            _again.add(key)


def consent_changed(organization_id: int) -> None:
    """Called after a consent change commits: kick the outbound sync of a near-real-time integration."""
    integration = (
        Integration.objects.filter(organization_id=organization_id, active=True, near_real_time=True)
        .select_related("organization")
        .first()
    )
    if integration is not None:
        kick_outbound(integration)
