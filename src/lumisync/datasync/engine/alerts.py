"""E-mail to an organization's Administrators when its sync turns failed or partial, when a night's file
is missing, and once when it recovers: one message per change of state, never one per run."""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import transaction

from lumisync.accounts.models import Role
from lumisync.datasync.models import Direction, IntegrationHealth, SyncRun

NO_FILE = "No new changed-records file"


def state_of(run: SyncRun) -> str:
    if run.status == SyncRun.Status.FAILED:
        return "failed"
    if run.status == SyncRun.Status.PARTIAL:
        return "partial"
    if run.direction == Direction.INBOUND and run.error.startswith(NO_FILE):
        return "missing_file"
    return "ok"


def after_run(run: SyncRun) -> bool:
    """Record the state the run leaves the integration in; e-mail the Administrators when it changed."""
    if run.dry_run or run.status in (SyncRun.Status.RUNNING, SyncRun.Status.PAUSED):
        return False
    state = state_of(run)
    with transaction.atomic():
        health, _ = IntegrationHealth.objects.select_for_update().get_or_create(integration=run.integration)
        if health.state == state:
            return False
        previous, health.state = health.state, state
        health.save(update_fields=["state", "changed_at"])
    organization = run.integration.organization
    recipients = list(
        organization.memberships.filter(role=Role.ADMINISTRATOR)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return False
    subject, body = _message(run, state, previous)
    send_mail(f"[lumisync] {organization.name}: {subject}", body, None, recipients)
    return True


def _message(run: SyncRun, state: str, previous: str) -> tuple[str, str]:
    where = f"{run.get_direction_display()} run {run.pk} ({run.started_at:%Y-%m-%d %H:%M} UTC)"
    if state == "ok":
        return (
            "the data sync has recovered",
            f"The {where} succeeded after an earlier {previous.replace('_', ' ')} state.",
        )
    if state == "missing_file":
        return (
            "no changed-records file tonight",
            f"{where}: {run.error}\nCheck the export with Luminate Support.",
        )
    counts = ", ".join(f"{category}: {count}" for category, count in sorted(run.counts.items()) if count)
    detail = run.error or counts
    return (
        f"the data sync is {state}",
        f"The {where} ended {state}.\n{detail}\nSee the Synchronization report.",
    )
