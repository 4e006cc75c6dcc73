"""The outbound sync (platform → Luminate): consent state and calls, per profile, per ``policy.md``.

The platform's consent event log is read past a cursor into :class:`OutboundItem` rows (one per event and
integration), so delivery state survives any crash. What is sent for consent is the profile's state at the
moment of sending, not a replay: the opt-in field is true while the profile has an active subscription in
a synced campaign, false once it has none. All of a profile's pending consent items are answered by one
write, so an opt-out never waits behind an earlier failed opt-in: it supersedes it. Consent changes the
inbound sync made (channel Luminate) are never exported. Calls go through ``takeAction``, which Luminate
cannot de-duplicate: each is marked in flight before the call and, after a crash, reconciled against the
constituent's interactions instead of being sent again.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from lumisync.datasync.engine.context import SyncContext, load_context, site_config
from lumisync.datasync.engine.locks import Lease, run_lock
from lumisync.datasync.engine.policy import PROFILE_FIELDS, Category
from lumisync.datasync.models import (
    Direction,
    Integration,
    LinkSnapshot,
    OutboundCursor,
    OutboundItem,
    SyncRecord,
    SyncRun,
)
from lumisync.datasync.sites import luminate_client
from lumisync.luminate import (
    LuminateClient,
    MultipleMatches,
    NotFound,
    RecordLevelError,
    RetryPolicy,
    RunLevelError,
    TransientError,
)
from lumisync.subscribers import services as subscriber_services
from lumisync.subscribers.models import Call, Channel, ConsentEvent, Profile, Subscription

MAX_BACKOFF = timedelta(hours=6)
ADDRESS_ATTRIBUTES = frozenset({"street1", "street2", "city", "state", "postal_code", "country"})
# How long after it was written an event or call is still read again, in case it committed late.
LATE_COMMITS = timedelta(minutes=15)
CALL_MARKER = "lumisync call {pk}"
INTERACTION_PAGE_SIZE = 100
INTERACTION_PAGES = 50
# A run saves its progress (for the report page and the progress bar) after this many records or this many
# seconds, whichever comes first: often enough to watch, rarely enough to cost nothing.
PROGRESS_EVERY_RECORDS = 50
PROGRESS_EVERY_SECONDS = 1.0
INACTIVE = "The integration is inactive: nothing was sent; events wait for reactivation."
OPT_OUTS_ONLY = (
    "An inbound run was in progress: only the opt-outs of linked profiles were sent; the rest waits for the "
    "next run."
)


@dataclass(frozen=True)
class OutboundOptions:
    trigger: str = SyncRun.Trigger.COMMAND
    dry_run: bool = False
    # An Administrator's explicit run of an inactive integration (``lumisync sync outbound --force``).
    while_inactive: bool = False
    # The scheduler's tick that started the run, recorded as its start: the schedule measures its interval
    # from tick to tick, so a run that starts a moment after its tick does not delay the next one.
    scheduled_at: datetime | None = None
    progress: Callable[[SyncRun], None] | None = None


class _Skip(Exception):
    """The profile cannot be exported now; ``category`` and the message say why."""

    def __init__(self, category: str, message: str, *, final: bool):
        super().__init__(message)
        self.category = category
        self.final = final


class _Duplicate(Exception):
    """``create`` answered duplicate (code 11) and the email now finds ``record``."""

    def __init__(self, record: dict):
        super().__init__(record["cons_id"])
        self.record = record


def run_outbound(integration: Integration, options: OutboundOptions = OutboundOptions()) -> SyncRun:
    """Export what changed on the platform since the last run; returns the finished run.

    While an inbound run holds the integration's lock, only the opt-outs of linked profiles are sent (see
    ``locks.py``). Any error other than a run-level one closes the run as failed, with the error, before it
    propagates.

    Raises:
        RunInProgress: another outbound run of this integration holds the lock.
    """
    with run_lock(integration, Direction.OUTBOUND, writes_links=not options.dry_run) as lease:
        context = load_context(integration)
        run = SyncRun.objects.create(
            integration=integration,
            direction=Direction.OUTBOUND,
            trigger=options.trigger,
            dry_run=options.dry_run,
            started_at=options.scheduled_at or timezone.now(),
        )
        if not (options.dry_run or options.while_inactive or context.integration.active):
            # Events keep their place in the platform's log and go out after reactivation.
            _close(run, SyncRun.Status.SUCCEEDED, INACTIVE)
            return run
        try:
            _export(context, run, options, lease)
        except RunLevelError as exc:
            _close(run, SyncRun.Status.FAILED, str(exc))
            return run
        except BaseException as exc:
            # Whatever stopped it (a bug, the database, Ctrl-C), the run must not stay "running" for ever.
            _close(run, SyncRun.Status.FAILED, f"The run stopped on an unexpected error: {exc!r}")
            raise
        counts = dict(run.counts)
        bad = counts.get(Category.PROCESSING_ERROR.value, 0) + counts.get(Category.UNABLE_TO_UPDATE.value, 0)
        _close(
            run,
            SyncRun.Status.PARTIAL if bad else SyncRun.Status.SUCCEEDED,
            OPT_OUTS_ONLY if lease.opt_outs_only else "",
        )
        return run


def _export(context: SyncContext, run: SyncRun, options: OutboundOptions, lease: Lease) -> None:
    # A preview writes nothing a later run acts on: the events and calls past the cursor become items kept
    # in memory, never queued, and the cursor stays where it is; no Luminate write, link, snapshot or item
    # is settled; only its report rows are kept. What it would link, create or send again is kept in memory
    # too, so that its later events see them as the real run's would. It holds no transaction open while
    # it talks to Luminate, so on SQLite a STOP or a web opt-in arriving meanwhile is written at once. A
    # real run commits as it goes, so that a call is marked in flight before it is sent.
    if options.dry_run:
        unqueued = _unqueued(context)
    else:
        enqueue(context)
        unqueued = []
    site = site_config(context.integration)
    # takeAction cannot be de-duplicated by Luminate: it is sent once per attempt, never retried
    # blindly; an unanswered attempt is reconciled against the constituent's interactions. Both
    # clients talk to the same site, so they share its rate limit (as every client of the site does).
    with (
        luminate_client(site) as client,
        luminate_client(dataclasses.replace(site, retry=RetryPolicy(max_attempts=1))) as once,
    ):
        exporter = _Exporter(context, client, run, dry_run=options.dry_run, once=once, unqueued=unqueued)
        try:
            if not lease.opt_outs_only:
                exporter.reconcile_in_flight()
            due = exporter.due_work(opt_outs_only=lease.opt_outs_only)
            run.total = sum(due.values())
            progress = _Progress(run, options.progress)
            for profile_id in due:
                exporter.export_profile(profile_id, consent_only=lease.opt_outs_only)
                if progress.save_if_due():
                    lease.renew()
                # Deactivation during a run stops it after the record in flight.
                if not (options.dry_run or options.while_inactive) and not _still_active(context.integration):
                    break
            progress.save_if_due(at_the_end=True)
        finally:
            if exporter.preview_rows:
                SyncRecord.objects.bulk_create(exporter.preview_rows)


class _Progress:
    """Saves a run's progress as it goes, so the report page and the progress bar can follow it."""

    def __init__(self, run: SyncRun, report: Callable[[SyncRun], None] | None):
        self.run = run
        self.report = report
        run.save(update_fields=["total"])
        self.save()

    def save_if_due(self, *, at_the_end: bool = False) -> bool:
        """Save after :data:`PROGRESS_EVERY_RECORDS` records or :data:`PROGRESS_EVERY_SECONDS`, whichever
        comes first, and at the end whatever is left; returns whether it saved."""
        unsaved = self.run.done - self.saved_done
        if not unsaved or (
            not at_the_end
            and unsaved < PROGRESS_EVERY_RECORDS
            and time.monotonic() - self.saved_at < PROGRESS_EVERY_SECONDS
        ):
            return False
        self.save()
        return True

    def save(self) -> None:
        self.run.save(update_fields=["done", "counts"])
        self.saved_done, self.saved_at = self.run.done, time.monotonic()
        if self.report:
            self.report(self.run)


def _still_active(integration: Integration) -> bool:
    return Integration.objects.filter(pk=integration.pk, active=True).exists()


def _close(run: SyncRun, status: str, error: str) -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at", "counts", "total", "done"])


def enqueue(context: SyncContext) -> int:
    """Turn new consent events and calls into outbound items; returns how many were added."""
    with transaction.atomic():
        cursor, _ = OutboundCursor.objects.select_for_update().get_or_create(integration=context.integration)
        items, last_event_id, last_call_id = _past_cursor(context, cursor)
        OutboundItem.objects.bulk_create(items, ignore_conflicts=True, batch_size=500)
        cursor.last_event_id = max(cursor.last_event_id, last_event_id)
        cursor.last_call_id = max(cursor.last_call_id, last_call_id)
        cursor.save()
    return len(items)


def _unqueued(context: SyncContext) -> list[OutboundItem]:
    """What :func:`enqueue` would add now, unsaved: a preview's items."""
    integration = context.integration
    cursor = OutboundCursor.objects.filter(integration=integration).first() or OutboundCursor()
    items, _, _ = _past_cursor(context, cursor)
    # Only rows read again below the cursor (late commits) can have an item already.
    queued_events = set(
        OutboundItem.objects.filter(
            integration=integration,
            consent_event_id__in=[
                item.consent_event_id
                for item in items
                if item.consent_event_id and item.consent_event_id <= cursor.last_event_id
            ],
        ).values_list("consent_event_id", flat=True)
    )
    queued_calls = set(
        OutboundItem.objects.filter(
            integration=integration,
            call_id__in=[
                item.call_id for item in items if item.call_id and item.call_id <= cursor.last_call_id
            ],
        ).values_list("call_id", flat=True)
    )
    return [
        item
        for item in items
        if item.consent_event_id not in queued_events and item.call_id not in queued_calls
    ]


def _past_cursor(context: SyncContext, cursor: OutboundCursor) -> tuple[list[OutboundItem], int, int]:
    """The items of the consent events and calls past ``cursor``, unsaved, with the highest event and
    call IDs read."""
    integration = context.integration
    start = max(cursor.last_event_id, integration.outbound_start_event_id or 0)
    # On PostgreSQL an id is handed out before its transaction commits, so an event may become visible
    # after a higher id was read: recent rows below the cursor are read again (items are unique per
    # event and call, so a row read twice adds nothing) rather than skipped for good.
    late = timezone.now() - LATE_COMMITS
    events = list(
        ConsentEvent.objects.filter(
            organization=integration.organization, id__gt=integration.outbound_start_event_id or 0
        )
        .filter(Q(id__gt=start) | Q(occurred_at__gte=late))
        .order_by("id")
        .values("id", "profile_id", "kind", "channel", "campaign_id")
    )
    calls = list(
        Call.objects.filter(organization=integration.organization)
        .filter(Q(id__gt=cursor.last_call_id) | Q(created_at__gte=late))
        .order_by("id")
        .values("id", "profile_id")
    )
    items = [
        OutboundItem(
            integration=integration,
            kind=OutboundItem.Kind.OPT_IN
            if event["kind"] == ConsentEvent.Kind.OPT_IN
            else OutboundItem.Kind.OPT_OUT,
            profile_id=event["profile_id"],
            consent_event_id=event["id"],
        )
        for event in events
        if _exported(context, event)
    ]
    items += [
        OutboundItem(
            integration=integration,
            kind=OutboundItem.Kind.CALL,
            profile_id=call["profile_id"],
            call_id=call["id"],
        )
        for call in calls
    ]
    return items, events[-1]["id"] if events else 0, calls[-1]["id"] if calls else 0


def _exported(context: SyncContext, event: dict) -> bool:
    """Echo suppression and scope: what the inbound sync did, and unconfirmed opt-ins, never go out."""
    if event["channel"] == Channel.LUMINATE or event["kind"] == ConsentEvent.Kind.PENDING:
        return False
    campaign = event["campaign_id"]
    return campaign is None or not context.synced_campaign_ids or campaign in context.synced_campaign_ids


def _queued(integration: Integration, also: Collection[int]) -> QuerySet[OutboundItem]:
    """The queued items still to send, plus ``also`` (those a preview foresees its real run putting back
    to send). A consent event at or before the activation's start never goes out, whatever queued it (a
    preview of an earlier version did): the Administrator chose at activation whether earlier opt-ins are
    sent. Calls are not consent: each goes out, however old."""
    waiting = Q(status__in=[OutboundItem.Status.PENDING, OutboundItem.Status.WAITING])
    after_start = Q(consent_event__isnull=True) | Q(
        consent_event_id__gt=integration.outbound_start_event_id or 0
    )
    return OutboundItem.objects.filter(integration=integration).filter(
        (waiting | Q(pk__in=also)) if also else waiting, after_start
    )


def _email_key(email: str) -> str:
    # Luminate finds a primary email whatever its case.
    return email.strip().lower()


class _Exporter:
    def __init__(
        self,
        context: SyncContext,
        client: LuminateClient,
        run: SyncRun,
        *,
        dry_run: bool,
        once: LuminateClient,
        unqueued: list[OutboundItem],
    ):
        self.context = context
        self.integration = context.integration
        self.client = client
        self.once = once
        self.preview_rows: list[SyncRecord] = []
        self.run = run
        self.dry_run = dry_run
        self.rng = random.Random()
        # A preview's items (never queued), its own links, creations (by email key) and calls it would send
        # again, kept in memory only.
        self.unqueued: dict[int, list[OutboundItem]] = {}
        for item in unqueued:
            self.unqueued.setdefault(item.profile_id, []).append(item)
        self.foreseen_links: dict[str, Profile] = {}
        self.foreseen_records: dict[str, dict] = {}
        self.foreseen_pending: set[int] = set()

    # -- per profile ---------------------------------------------------------------------------------

    def due_work(self, *, opt_outs_only: bool) -> dict[int, int]:
        """The profiles due now, in the order of their oldest item, each with the report rows it will give:
        one for all its consent items, one per call. ``opt_outs_only``: linked profiles with no active
        synced subscription, their consent only (a write that links no profile)."""
        now = timezone.now()
        items = list(
            _queued(self.integration, self.foreseen_pending)
            .order_by("id")
            .values_list("profile_id", "kind", "next_attempt_at")
        )
        items += [(item.profile_id, item.kind, None) for queue in self.unqueued.values() for item in queue]
        due = {
            profile_id
            for profile_id, _kind, next_attempt_at in items
            if not next_attempt_at or next_attempt_at <= now
        }
        rows: dict[int, int] = {}
        with_consent = set()
        for profile_id, kind, _next_attempt_at in items:
            if profile_id not in due:
                continue
            if kind == OutboundItem.Kind.CALL:
                if opt_outs_only:
                    continue
            elif profile_id in with_consent:
                continue
            else:
                with_consent.add(profile_id)
            rows[profile_id] = rows.get(profile_id, 0) + 1
        if not opt_outs_only:
            return rows
        linked = Profile.objects.filter(pk__in=list(rows), constituent_id__isnull=False).in_bulk()
        return {
            profile_id: count
            for profile_id, count in rows.items()
            if profile_id in linked and not self._has_active_synced_subscription(linked[profile_id])
        }

    def export_profile(self, profile_id: int, *, consent_only: bool = False) -> None:
        profile = Profile.objects.get(pk=profile_id)
        items = list(_queued(self.integration, self.foreseen_pending).filter(profile=profile).order_by("id"))
        items += self.unqueued.get(profile_id, [])
        consent = [item for item in items if item.kind != OutboundItem.Kind.CALL]
        calls = [] if consent_only else [item for item in items if item.kind == OutboundItem.Kind.CALL]
        if consent:
            self._export_consent(profile, consent)
        for item in calls:
            self._export_call(profile, item)

    def _export_consent(self, profile: Profile, items: list[OutboundItem]) -> None:
        opted_in = self._has_active_synced_subscription(profile)
        try:
            cons_id, category, reason = self._send_consent(profile, opted_in)
        except _Skip as skip:
            status = OutboundItem.Status.FAILED if skip.final else OutboundItem.Status.WAITING
            if skip.category == Category.NO_EXPORT and skip.final:
                status = OutboundItem.Status.DELIVERED
            self._settle(items, status, skip.category, str(skip))
            self._report(profile, skip.category, str(skip))
            return
        except TransientError as exc:
            self._retry_later(items, exc)
            self._report(
                profile, Category.UNABLE_TO_UPDATE, f"Luminate did not answer ({exc}); retried later."
            )
            return
        except RecordLevelError as exc:
            self._settle(items, OutboundItem.Status.FAILED, Category.PROCESSING_ERROR, str(exc))
            self._report(profile, Category.PROCESSING_ERROR, f"Luminate refused the write: {exc}")
            return
        superseded = len(items) > 1
        self._settle(items, OutboundItem.Status.DELIVERED, category, reason)
        if superseded:
            reason += f" ({len(items)} consent changes answered by the profile's current state.)"
        self._report(profile, category, reason, cons_id=cons_id)

    def _send_consent(self, profile: Profile, opted_in: bool) -> tuple[str, str, str]:
        opt_in_field = self.integration.opt_in_field
        state = "true" if opted_in else "false"
        if profile.constituent_id:
            self._write_update(profile, profile.constituent_id, self._consent_fields(profile, opted_in))
            return (
                profile.constituent_id,
                Category.UPDATED,
                f"Set {opt_in_field} to {state} on the linked constituent.",
            )
        if not profile.email:
            if opted_in:
                raise _Skip(
                    Category.NO_EXPORT,
                    "No email and no constituent link yet: waits until the profile has an email.",
                    final=False,
                )
            raise _Skip(
                Category.NO_EXPORT, "Opt-out with no matching Luminate record: nothing to change.", final=True
            )
        found = self._find_by_email(profile)
        after = ""
        if found is None:
            if not opted_in:
                raise _Skip(
                    Category.NO_EXPORT,
                    f"No Luminate record has the email {profile.email}: nothing to change.",
                    final=True,
                )
            try:
                cons_id = self._create(profile)
            except _Duplicate as duplicate:
                found = duplicate.record
                after = " after Luminate answered create with a duplicate (code 11)"
            else:
                return cons_id, Category.CREATED, f"Created constituent {cons_id} with {opt_in_field} true."
        cons_id = found["cons_id"]
        self._link(profile, cons_id)
        fields = self._consent_fields(profile, opted_in)
        if opted_in:
            fields.update(self._empty_in_luminate(profile, found))
        self._write_update(profile, cons_id, fields)
        filled = sorted(set(fields) - {opt_in_field, self.context.plan.phone.api_name})
        extra = f"; filled empty fields {', '.join(filled)}" if filled else ""
        return (
            cons_id,
            Category.UPDATED,
            f"Linked by email to constituent {cons_id}{after}; set {opt_in_field} to {state}{extra}.",
        )

    def _find_by_email(self, profile: Profile) -> dict | None:
        # A record a preview would have created is the one its real run finds: Luminate had none before.
        record = self.foreseen_records.get(_email_key(profile.email))
        if record is None:
            try:
                record = self.client.get_user(
                    primary_email=profile.email, fields=self.context.plan.api_fields()
                )
            except NotFound:
                return None
            except MultipleMatches:
                raise _Skip(
                    Category.SKIPPED_MEMBERS,
                    f"Several Luminate records have the email {profile.email}; resolve the duplicates in Luminate.",
                    final=True,
                ) from None
        cons_id = str(record.get("cons_id"))
        other = self.foreseen_links.get(cons_id)
        if other is None or other.pk == profile.pk:
            other = (
                Profile.objects.filter(organization=profile.organization, constituent_id=cons_id)
                .exclude(pk=profile.pk)
                .first()
            )
        if other is not None:
            raise _Skip(
                Category.SKIPPED_MEMBERS,
                f"The Luminate record {cons_id} with the email {profile.email} is linked to another profile ({other.phone_number}).",
                final=True,
            )
        return record

    def _create(self, profile: Profile) -> str:
        """Create the constituent and link it; returns its ID.

        Raises:
            _Duplicate: Luminate answered duplicate (code 11) and the email now finds the record.
        """
        fields = self._profile_fields(profile)
        fields.update({self.integration.opt_in_field: True, **self._phone(profile)})
        if self.dry_run:
            # One record per email key, so the count names each foreseen record apart.
            cons_id = f"(new {len(self.foreseen_records) + 1})"
            self.foreseen_records[_email_key(profile.email)] = {"cons_id": cons_id, **fields}
            self._link(profile, cons_id)
            return cons_id
        try:
            result = self.client.create(
                fields,
                interaction_subject="SMS opt-in",
                interaction_body=f"Opted in to text messages as {profile.phone_number}.",
                source=self.integration.source_code or None,
                sub_source="lumisync",
                no_welcome=True if self.integration.no_welcome == "1" else None,
                add_center_ids=sorted(self.context.rules.center_ids),
            )
        except RecordLevelError as exc:
            if getattr(exc, "code", None) != 11:
                raise
            # Duplicate: the record appeared since the lookup; it is handled as found, never overwritten.
            record = self._find_by_email(profile)
            if record is None:
                raise
            raise _Duplicate(record) from exc
        self._link(profile, result.cons_id)
        self._snapshot(profile, result.cons_id, True)
        return result.cons_id

    def _write_update(self, profile: Profile, cons_id: str, fields: dict) -> None:
        if self.dry_run:
            return
        self.client.update(
            fields,
            cons_id=cons_id,
            interaction_subject="SMS opt-in status",
            interaction_body=f"Text messaging consent of {profile.phone_number} synchronized.",
        )
        self._snapshot(profile, cons_id, bool(fields.get(self.integration.opt_in_field)))

    def _empty_in_luminate(self, profile: Profile, record: dict) -> dict:
        """The mapped fields empty in Luminate that the profile can fill (never overwrite a donor's data)."""
        return {name: value for name, value in self._profile_fields(profile).items() if not record.get(name)}

    def _profile_fields(self, profile: Profile) -> dict[str, str]:
        """The profile's non-empty mapped values, by Luminate field name. A donor's billing address serves as
        the primary address once Luminate itself has recorded the gift: a donation form's report alone is
        anyone's word (its snippet key is public)."""
        fields = {}
        billing_gaps = {}
        for column in self.context.plan.profile:
            value = getattr(profile, column.attribute, "") or ""
            if value:
                fields[column.api_name] = value
            elif column.attribute in ADDRESS_ATTRIBUTES and getattr(
                profile, f"billing_{column.attribute}", ""
            ):
                billing_gaps[column.api_name] = getattr(profile, f"billing_{column.attribute}")
        # Most profiles have no billing address to offer: only those ask where it came from.
        if billing_gaps and subscriber_services.billing_address_confirmed(profile):
            fields.update(billing_gaps)
        return fields

    def _consent_fields(self, profile: Profile, opted_in: bool) -> dict:
        """An opt-in carries the number it is for; an opt-out changes the opt-in field only, since the
        record (found by email, or edited in Luminate since) may hold another number, the donor's own."""
        fields = {self.integration.opt_in_field: opted_in}
        return {**fields, **self._phone(profile)} if opted_in else fields

    def _phone(self, profile: Profile) -> dict:
        name = self.context.plan.phone.api_name
        return {name: profile.phone_number} if name else {}

    def _link(self, profile: Profile, cons_id: str) -> None:
        if profile.constituent_id == cons_id:
            return
        profile.constituent_id = cons_id
        if self.dry_run:
            # Not saved: the profile's later events and other profiles with the email see it all the same.
            self.foreseen_links[cons_id] = profile
            return
        profile.luminate_synced_at = timezone.now()
        profile.save(update_fields=["constituent_id", "luminate_synced_at", "updated_at"])

    def _snapshot(self, profile: Profile, cons_id: str, opted_in: bool) -> None:
        now = timezone.now()
        LinkSnapshot.objects.update_or_create(
            integration=self.integration,
            constituent_id=cons_id,
            defaults={
                "profile": profile,
                "fields": {name: getattr(profile, name) for name in PROFILE_FIELDS},
                "opted_in": opted_in,
                "phone": profile.phone_number,
                "synced_at": now,
            },
        )
        Profile.objects.filter(pk=profile.pk).update(luminate_synced_at=now)

    def _has_active_synced_subscription(self, profile: Profile) -> bool:
        if profile.is_globally_opted_out:
            return False
        active = Subscription.objects.filter(profile=profile, status=Subscription.Status.ACTIVE)
        if self.context.synced_campaign_ids:
            active = active.filter(campaign_id__in=self.context.synced_campaign_ids)
        return active.exists()

    # -- calls ---------------------------------------------------------------------------------------

    def _export_call(self, profile: Profile, item: OutboundItem) -> None:
        call = item.call
        if not profile.constituent_id:
            if not profile.email:
                self._settle(
                    [item], OutboundItem.Status.WAITING, Category.NO_EXPORT, "No link and no email yet."
                )
                self._report(profile, Category.NO_EXPORT, "Call waits: no constituent link and no email yet.")
                return
            try:
                record = self._find_by_email(profile)
            except _Skip as skip:
                self._settle([item], OutboundItem.Status.FAILED, skip.category, str(skip))
                self._report(profile, skip.category, str(skip))
                return
            except (TransientError, RecordLevelError) as exc:
                self._retry_later([item], exc)
                self._report(profile, Category.UNABLE_TO_UPDATE, f"Call not sent yet: {exc}")
                return
            if record is None:
                self._settle(
                    [item],
                    OutboundItem.Status.WAITING,
                    Category.NO_EXPORT,
                    "No Luminate record for this email yet.",
                )
                self._report(
                    profile, Category.NO_EXPORT, "Call waits: no Luminate record for this email yet."
                )
                return
            self._link(profile, record["cons_id"])
        if self.dry_run:
            self._report(
                profile,
                Category.UPDATED,
                f"Would record the call to {call.recipient_name} (alert {call.alert_id}).",
            )
            return
        OutboundItem.objects.filter(pk=item.pk).update(
            status=OutboundItem.Status.IN_FLIGHT, attempts=item.attempts + 1, updated_at=timezone.now()
        )
        item.attempts += 1
        try:
            self.once.take_call_action(
                cons_id=profile.constituent_id,
                alert_id=call.alert_id,
                called=call.status == Call.Status.COMPLETED,
                contact_name=call.recipient_name or call.recipient_id,
                note=self._call_note(call),
            )
        except TransientError as exc:
            answered = exc.http_status is not None or exc.code is not None
            found = self._in_luminate(item, profile.constituent_id) if answered else None
            if found:
                self._settle([item], OutboundItem.Status.DELIVERED, Category.UPDATED, "Call recorded.")
                self._report(profile, Category.UPDATED, "Call recorded (found in Luminate after an error).")
            elif found is False:
                # Luminate answered with an error and has no trace of the call: safe to send again later.
                self._retry_later([item], exc, counted=True)
                self._report(
                    profile, Category.UNABLE_TO_UPDATE, f"Call not recorded yet ({exc}); retried later."
                )
            else:
                # No answer: the request may still reach Luminate. Reconciled, never resent blindly.
                self._report(
                    profile,
                    Category.UNABLE_TO_UPDATE,
                    f"Call left in flight after an error ({exc}); reconciled next run.",
                )
            return
        except RecordLevelError as exc:
            self._settle([item], OutboundItem.Status.FAILED, Category.PROCESSING_ERROR, str(exc))
            self._report(profile, Category.PROCESSING_ERROR, f"Luminate refused the call: {exc}")
            return
        self._settle([item], OutboundItem.Status.DELIVERED, Category.UPDATED, "Call recorded.")
        self._report(
            profile,
            Category.UPDATED,
            f"Recorded the call to {call.recipient_name or call.recipient_id} (alert {call.alert_id}).",
        )

    @staticmethod
    def _call_note(call: Call) -> str:
        return (
            f"Started {call.started_at:%Y-%m-%d %H:%M:%S %Z}, {call.duration_seconds} s, {call.get_status_display()}. "
            + CALL_MARKER.format(pk=call.pk)
        )

    def reconcile_in_flight(self) -> None:
        """Calls left in flight (a run that died, or no answer): delivered if Luminate has them, else sent
        again. Only marks older than the client's timeouts are looked at, so a request still on its way is
        not taken for lost."""
        settled = timezone.now() - timedelta(
            seconds=self.once.site.connect_timeout + self.once.site.read_timeout
        )
        stuck = OutboundItem.objects.filter(
            integration=self.integration, status=OutboundItem.Status.IN_FLIGHT, updated_at__lt=settled
        ).select_related("call", "profile")
        for item in stuck:
            found = self._in_luminate(item, item.profile.constituent_id)
            if found is None:
                continue
            if found:
                self._settle(
                    [item],
                    OutboundItem.Status.DELIVERED,
                    Category.UPDATED,
                    "Found in Luminate after an interrupted attempt.",
                )
            elif self.dry_run:
                self.foreseen_pending.add(item.pk)
            else:
                OutboundItem.objects.filter(pk=item.pk).update(status=OutboundItem.Status.PENDING)

    def _in_luminate(self, item: OutboundItem, cons_id: str | None) -> bool | None:
        """Whether the call's marker is among the constituent's interactions; None when that cannot be read."""
        if not cons_id:
            return None
        marker = CALL_MARKER.format(pk=item.call_id)
        for page in range(INTERACTION_PAGES):
            try:
                interactions = self.client.get_user_interactions(
                    cons_id=cons_id, list_page_size=INTERACTION_PAGE_SIZE, list_page_offset=page
                )
            except (TransientError, RecordLevelError):
                return None
            if any(marker in _interaction_text(interaction) for interaction in interactions):
                return True
            if len(interactions) < INTERACTION_PAGE_SIZE:
                return False
        return None

    # -- bookkeeping ---------------------------------------------------------------------------------

    def _settle(self, items: list[OutboundItem], status: str, category: str, message: str) -> None:
        if self.dry_run:
            return
        OutboundItem.objects.filter(pk__in=[item.pk for item in items]).update(
            status=status,
            category=str(category),
            last_error="" if status == OutboundItem.Status.DELIVERED else message,
        )

    def _retry_later(self, items: list[OutboundItem], exc: Exception, *, counted: bool = False) -> None:
        if self.dry_run:
            return
        for item in items:
            attempts = item.attempts if counted else item.attempts + 1
            delay = min(MAX_BACKOFF, timedelta(minutes=2) * 2 ** min(attempts, 12))
            OutboundItem.objects.filter(pk=item.pk).update(
                attempts=attempts,
                status=OutboundItem.Status.PENDING,
                next_attempt_at=timezone.now() + delay * self.rng.uniform(0.5, 1.0),
                last_error=str(exc),
            )

    def _report(self, profile: Profile, category: str, reason: str, *, cons_id: str = "") -> None:
        row = SyncRecord(
            run=self.run,
            direction=Direction.OUTBOUND,
            constituent_id=cons_id or profile.constituent_id or "",
            profile=profile,
            mobile=profile.phone_number,
            first_name=profile.first_name,
            last_name=profile.last_name,
            email=profile.email,
            profile_status=profile.get_status_display(),
            category=str(category),
            reason=reason,
            source=SyncRecord.Source.PLATFORM,
        )
        if self.dry_run:
            self.preview_rows.append(row)
        else:
            row.save()
        self.run.done += 1
        self.run.counts[str(category)] = self.run.counts.get(str(category), 0) + 1


def _interaction_text(interaction: dict) -> str:
    return " ".join(str(value) for value in interaction.values() if value)
