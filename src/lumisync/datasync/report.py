"""The Synchronization report: summaries, rows as CSV or JSON, conflict resolution, re-drive and retention,
and the runs an Administrator starts from the report page."""

from __future__ import annotations

import csv
import json
import logging
import queue
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TextIO

from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import post_save
from django.utils import timezone

from lumisync.datasync import services
from lumisync.datasync.engine.inbound import InboundOptions, run_inbound
from lumisync.datasync.engine.locks import RunInProgress
from lumisync.datasync.engine.outbound import OutboundOptions
from lumisync.datasync.engine.policy import Category
from lumisync.datasync.engine.schedule import run_sync
from lumisync.datasync.models import (
    Direction,
    FieldConflict,
    Integration,
    LinkSnapshot,
    OutboundItem,
    SyncRecord,
    SyncRun,
)
from lumisync.datasync.sites import luminate_client
from lumisync.luminate import LuminateError, MultipleMatches, NotFound
from lumisync.subscribers.history import neutralize_cell
from lumisync.subscribers.phones import InvalidPhoneNumber, normalize_phone

log = logging.getLogger(__name__)

RETENTION = timedelta(days=400)
COLUMNS = (
    ("run", "Run"),
    ("direction", "Direction"),
    ("mobile", "Mobile"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("profile_status", "Profile status"),
    ("constituent_id", "Constituent ID"),
    ("category", "Category"),
    ("reason", "Reason"),
    ("changes", "Changes"),
    ("source", "Values from"),
)
CATEGORY_ORDER = [category.value for category in Category]
PHONE_CHARACTERS = re.compile(r"^[\d\s().+\-]+$")


def summary(run: SyncRun) -> list[tuple[str, int]]:
    """Every category with its count, in the report's order (zero counts included)."""
    return [(category, run.counts.get(category, 0)) for category in CATEGORY_ORDER]


def describe_changes(changes: dict) -> str:
    """``{"city": ["Austin", "Dallas"]}`` as ``city: Austin → Dallas`` (fields joined by ``; ``)."""
    return "; ".join(
        f"{field}: {before or '(empty)'} → {after or '(empty)'}" for field, (before, after) in changes.items()
    )


def _row(record: SyncRecord) -> dict[str, str]:
    return {
        "run": str(record.run_id),
        "direction": record.direction,
        "mobile": record.mobile,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "email": record.email,
        "profile_status": record.profile_status,
        "constituent_id": record.constituent_id,
        "category": record.category,
        "reason": record.reason,
        "changes": describe_changes(record.changes),
        "source": record.source,
    }


class _Echo:
    """A stream whose ``write`` hands back what it was given, so ``csv.writer`` can feed a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(records: Iterable[SyncRecord]) -> Iterator[str]:
    """Rows as CSV lines that are safe to open in a spreadsheet: a cell starting with = + - @ or a tab gets
    a leading apostrophe, so mobile numbers appear as ``'+12025550143`` and are never run as formulas."""
    writer = csv.writer(_Echo())
    yield writer.writerow([label for _key, label in COLUMNS])
    for record in records:
        row = _row(record)
        yield writer.writerow([neutralize_cell(row[key]) for key, _label in COLUMNS])


def write_csv(records: Iterable[SyncRecord], stream: TextIO) -> None:
    """:func:`csv_lines` written to ``stream``."""
    for line in csv_lines(records):
        stream.write(line)


def json_chunks(records: Iterable[SyncRecord]) -> Iterator[str]:
    """Rows as one JSON array, a record at a time; ``changes`` keeps its ``field -> [before, after]`` form."""
    yield "["
    for index, record in enumerate(records):
        yield ("," if index else "") + "\n" + json.dumps({**_row(record), "changes": record.changes})
    yield "\n]\n"


def write_json(records: Iterable[SyncRecord], stream: TextIO) -> None:
    for chunk in json_chunks(records):
        stream.write(chunk)


def search(records: QuerySet[SyncRecord], *, category: str = "", query: str = "", region: str = "US"):
    """Report rows of one category (all when empty) matching a mobile number (any common format or a
    fragment of four digits or more), an email, a name or a constituent ID."""
    if category:
        records = records.filter(category=category)
    query = query.strip()
    if not query:
        return records
    matches = Q(email__icontains=query) | Q(constituent_id=query)
    try:
        matches |= Q(mobile=normalize_phone(query, region))
    except InvalidPhoneNumber:
        digits = re.sub(r"\D", "", query)
        if PHONE_CHARACTERS.match(query) and len(digits) >= 4:
            matches |= Q(mobile__contains=digits)
    name = Q()
    for word in query.split():
        name &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return records.filter(matches | name)


def progress(run: SyncRun, now: datetime | None = None) -> dict:
    """How far a run has got: records done of total, records per second so far, status and counts."""
    elapsed = ((run.finished_at or now or timezone.now()) - run.started_at).total_seconds()
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "finished": run.status != SyncRun.Status.RUNNING,
        "done": run.done,
        "total": run.total,
        "rate": round(run.done / elapsed, 1) if elapsed > 0 else 0.0,
        "counts": {category: count for category, count in summary(run) if count},
    }


def conflicts_of(run: SyncRun, records: Iterable[SyncRecord]) -> dict[int, list[FieldConflict]]:
    """The fields each Field Conflict row of ``run`` held, by record ID.

    A conflict names its report row when the engine set it; otherwise it is the run's row of the same
    constituent, the conflict having been written while that run was working.
    """
    rows = {
        record.constituent_id: record.pk for record in records if record.category == Category.FIELD_CONFLICT
    }
    if not rows:
        return {}
    window = Q(created_at__gte=run.started_at)
    if run.finished_at is not None:
        window &= Q(created_at__lte=run.finished_at)
    found = FieldConflict.objects.filter(integration_id=run.integration_id).filter(
        Q(record_id__in=rows.values()) | (Q(record__isnull=True, constituent_id__in=rows) & window)
    )
    held: dict[int, list[FieldConflict]] = {}
    for conflict in found.select_related("profile").order_by("id"):
        record_id = conflict.record_id or rows[conflict.constituent_id]
        held.setdefault(record_id, []).append(conflict)
    return held


def record_of(conflict: FieldConflict) -> SyncRecord | None:
    """The report row a conflict was held on (see :func:`conflicts_of`)."""
    if conflict.record_id is not None:
        return conflict.record
    return (
        SyncRecord.objects.filter(
            run__integration_id=conflict.integration_id,
            run__started_at__lte=conflict.created_at,
            constituent_id=conflict.constituent_id,
            category=Category.FIELD_CONFLICT,
        )
        .select_related("run")
        .order_by("-run__started_at", "-id")
        .first()
    )


def resolve_conflict(conflict: FieldConflict, *, take_luminate: bool, actor: str) -> None:
    """Settle a held field (policy row 19): keep ours, or take Luminate's value.

    Either way the link's snapshot takes Luminate's value, so the next run sees no new Luminate change;
    keeping ours then reads as a platform-only change, which the sync leaves alone.
    """
    with transaction.atomic():
        conflict = FieldConflict.objects.select_for_update().select_related("profile").get(pk=conflict.pk)
        if conflict.resolution != FieldConflict.Resolution.OPEN:
            return
        if take_luminate:
            setattr(conflict.profile, conflict.field, conflict.theirs)
            conflict.profile.save(update_fields=[conflict.field, "updated_at"])
        snapshot = (
            LinkSnapshot.objects.select_for_update()
            .filter(integration_id=conflict.integration_id, constituent_id=conflict.constituent_id)
            .first()
        )
        if snapshot is not None:
            snapshot.fields = {**snapshot.fields, conflict.field: conflict.theirs}
            snapshot.save(update_fields=["fields"])
        conflict.resolution = (
            FieldConflict.Resolution.TOOK_LUMINATE if take_luminate else FieldConflict.Resolution.KEPT_OURS
        )
        conflict.resolved_by = actor
        conflict.resolved_at = timezone.now()
        conflict.save(update_fields=["resolution", "resolved_by", "resolved_at"])


def redrive(items: Iterable[OutboundItem]) -> int:
    """Send failed outbound items again on the next outbound run."""
    return OutboundItem.objects.filter(
        pk__in=[item.pk for item in items], status=OutboundItem.Status.FAILED
    ).update(status=OutboundItem.Status.PENDING, next_attempt_at=None, last_error="")


def purge_expired(now=None) -> int:
    """Delete report rows of runs older than the retention period; returns how many rows went."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = SyncRecord.objects.filter(run__started_at__lt=cutoff).delete()
    return deleted


# --- runs started from the report -------------------------------------------------------------------------


class RunNotStarted(Exception):
    """A run asked for from the report did not begin: another run holds the lock, or it failed at once."""


class LookupFailed(Exception):
    """ "Try one constituent" could not find the constituent; the message says why."""


_background: set[threading.Thread] = set()


def _usable(integration: Integration, refusal: type[Exception]):
    """The integration's Luminate settings, checked before a run is created so that an unusable setting
    is reported at once instead of leaving a run that never ends."""
    try:
        return services.luminate_site_config(integration)
    except ValueError as exc:
        raise refusal(f"The Luminate settings cannot be used: {exc} Check Configure Integration.") from None


def start_run(integration: Integration, direction: str, *, preview: bool = False, wait: float = 10.0):
    """Start a run on a background thread ("Run now", or an inbound "Preview" when ``preview``).

    Returns the run as soon as the engine has created it, or None when it has not within ``wait`` seconds
    (a resumed inbound run shows itself only after its first chunk).

    Raises:
        RunNotStarted: the Luminate settings are unusable, another run of this integration and direction
            holds the lock, or the run failed before it began; the message says which.
    """
    _usable(integration, RunNotStarted)
    outcome: queue.Queue = queue.Queue()
    integration_id = integration.pk

    def saved(sender, instance, **kwargs):
        if threading.current_thread() is thread and instance.integration_id == integration_id:
            outcome.put(instance.pk)

    def body():
        try:
            target = Integration.objects.select_related("organization").get(pk=integration_id)
            if direction == Direction.INBOUND:
                options = InboundOptions(dry_run=preview, trigger=SyncRun.Trigger.MANUAL)
            else:
                options = OutboundOptions(trigger=SyncRun.Trigger.MANUAL)
            # As the scheduler runs it: health and alerts recorded, a run that raises closed as failed.
            run_sync(target, direction, options)
        except RunInProgress as exc:
            outcome.put(exc)
        except Exception as exc:
            log.exception(
                "%s run of integration %s started from the report failed", direction, integration_id
            )
            outcome.put(exc)
        finally:
            post_save.disconnect(saved, sender=SyncRun)
            connections.close_all()
            _background.discard(thread)

    thread = threading.Thread(target=body, name=f"lumisync-report-{direction}-{integration_id}", daemon=True)
    post_save.connect(saved, sender=SyncRun, weak=False)
    _background.add(thread)
    thread.start()
    try:
        result = outcome.get(timeout=wait)
    except queue.Empty:
        return None
    if isinstance(result, Exception):
        raise RunNotStarted(str(result)) from result
    return SyncRun.objects.get(pk=result)


def wait_for_background_runs(timeout: float | None = None) -> None:
    """Wait until every run started by :func:`start_run` in this process has ended."""
    for thread in list(_background):
        thread.join(timeout)


def try_constituent(integration: Integration, *, constituent_id: str = "", email: str = "") -> SyncRun:
    """What the inbound sync would do with one constituent: a dry run of just that record.

    An email is first looked up in Luminate (getUser by primary_email) for its constituent ID.

    Raises:
        LookupFailed: the settings are unusable, the email matches no constituent or several, or Luminate
            could not be asked.
        RunInProgress: an inbound run of this integration holds the lock.
    """
    site = _usable(integration, LookupFailed)
    if email:
        try:
            with luminate_client(site) as client:
                record = client.get_user(primary_email=email)
        except NotFound:
            raise LookupFailed(f"No Luminate constituent has the email {email}.") from None
        except MultipleMatches:
            raise LookupFailed(
                f"Several Luminate constituents have the email {email}: try one by its constituent ID."
            ) from None
        except LuminateError as exc:
            raise LookupFailed(f"Luminate could not be asked about {email}: {exc}") from None
        constituent_id = str(record.get("cons_id", ""))
    return run_inbound(
        integration,
        InboundOptions(dry_run=True, trigger=SyncRun.Trigger.MANUAL, only_ids=(constituent_id,)),
    )
