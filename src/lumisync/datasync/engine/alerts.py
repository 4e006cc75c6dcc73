"""E-mail to an organization's Administrators when its sync turns failed or partial, when a night's file
is missing, and once when each recovers: one message per change of state, never one per run.

Three aspects of an integration are watched apart (``IntegrationHealth.Aspect``): its inbound runs, its
outbound runs and the nightly changed-records file. So a partial inbound night followed by five-minute
outbound runs that succeed sends one "partial" message, not a "recovered" one every few minutes, and a night
with no file is reported even when the run is partial as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.mail import send_mail
from django.db import transaction

from lumisync.accounts.models import Role
from lumisync.datasync.models import Direction, Integration, IntegrationHealth, SyncRun

log = logging.getLogger(__name__)

NO_FILE = "No new changed-records file"
OK, PARTIAL, FAILED, MISSING = "ok", "partial", "failed", "missing"

Message = Callable[[str], tuple[str, str]]  # the previous state -> (subject, body)


def after_run(run: SyncRun) -> None:
    """Record the states a run leaves its integration in; e-mail the Administrators about each change.

    Previews are not the sync's state and are ignored; a run still going or paused is judged when it ends.
    Only a scheduled run can find a night's file missing: a run started by hand in the day finds no new
    file because the night's run took it.
    """
    if run.dry_run or run.status == SyncRun.Status.RUNNING:
        return
    if run.status != SyncRun.Status.PAUSED:
        state = {SyncRun.Status.FAILED: FAILED, SyncRun.Status.PARTIAL: PARTIAL}.get(run.status, OK)
        _record(
            run.integration,
            IntegrationHealth.Aspect(run.direction),
            state,
            lambda previous: _run_message(run, state, previous),
        )
    if run.direction != Direction.INBOUND or run.status == SyncRun.Status.FAILED or not run.files:
        return
    if not run.error.startswith(NO_FILE):
        _record(run.integration, IntegrationHealth.Aspect.CHANGED_FILE, OK, lambda previous: _file_back(run))
    elif run.trigger == SyncRun.Trigger.SCHEDULE:
        _record(
            run.integration, IntegrationHealth.Aspect.CHANGED_FILE, MISSING, lambda previous: _no_file(run)
        )


def run_raised(integration: Integration, direction: str, error: str) -> None:
    """A run that stopped on an error instead of ending counts as failed."""
    _record(
        integration,
        IntegrationHealth.Aspect(direction),
        FAILED,
        lambda previous: (
            f"the {_sync_name(direction)} has failed",
            f"A {direction} run stopped on an error: {error}\nSee the Synchronization report and the logs.",
        ),
    )


def _record(integration: Integration, aspect: str, state: str, message: Message) -> None:
    """Store ``state`` for ``aspect``; when it changed, e-mail the Administrators. A message that cannot be
    sent leaves the state as it was, so that the next run tries again; it never fails the run."""
    try:
        with transaction.atomic():
            health, _ = IntegrationHealth.objects.select_for_update().get_or_create(
                integration=integration, aspect=aspect
            )
            if health.state == state:
                return
            subject, body = message(health.state)
            health.state = state
            health.save(update_fields=["state", "changed_at"])
            recipients = list(
                integration.organization.memberships.filter(role=Role.ADMINISTRATOR)
                .exclude(user__email="")
                .values_list("user__email", flat=True)
            )
            if recipients:
                send_mail(f"[lumisync] {integration.organization.name}: {subject}", body, None, recipients)
    except Exception:
        log.exception("the %s alert of integration %s could not be sent", aspect, integration.pk)


def _sync_name(direction: str) -> str:
    return f"{direction} sync ({Direction(direction).label})"


def _where(run: SyncRun) -> str:
    return f"{run.get_direction_display()} run {run.pk} ({run.started_at:%Y-%m-%d %H:%M} UTC)"


def _run_message(run: SyncRun, state: str, previous: str) -> tuple[str, str]:
    if state == OK:
        return (
            f"the {_sync_name(run.direction)} has recovered",
            f"The {_where(run)} succeeded after an earlier {previous} state.",
        )
    counts = ", ".join(f"{category}: {count}" for category, count in sorted(run.counts.items()) if count)
    return (
        f"the {_sync_name(run.direction)} {'has failed' if state == FAILED else 'is partial'}",
        f"The {_where(run)} ended {state}.\n{run.error or counts}\nSee the Synchronization report.",
    )


def _no_file(run: SyncRun) -> tuple[str, str]:
    return (
        "no changed-records file tonight",
        f"{_where(run)}: {run.error}\nCheck the export with Luminate Support.",
    )


def _file_back(run: SyncRun) -> tuple[str, str]:
    return (
        "the changed-records file is back",
        f"The {_where(run)} read {', '.join(run.files)}.",
    )
