"""What the sync engine keeps between and during runs: runs and their per-record report rows, link
snapshots, checkpoints, carried-over constituents, processed files, outbound delivery state and locks."""

from __future__ import annotations

from django.db import models

from lumisync.core.fields import JSONField
from lumisync.subscribers.models import Call, ConsentEvent, Profile

from .integration import Integration

__all__ = [
    "Direction",
    "FieldConflict",
    "InboundChunk",
    "IntegrationHealth",
    "LinkSnapshot",
    "OutboundCursor",
    "OutboundItem",
    "PendingConstituent",
    "ProcessedFile",
    "RunLock",
    "SyncRecord",
    "SyncRun",
]


class Direction(models.TextChoices):
    INBOUND = "inbound", "Luminate → platform"
    OUTBOUND = "outbound", "Platform → Luminate"


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        PAUSED = "paused", "Paused at the end of the window"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Administrator"
        COMMAND = "command", "Command line"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="runs")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.COMMAND)
    dry_run = models.BooleanField(default=False)
    initial_load = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Records per report category.")
    files = models.JSONField(default=list, blank=True, help_text="The changed-records files this run read.")
    error = models.TextField(blank=True)
    would_text_without_opt_in = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["integration", "direction", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} run {self.pk} ({self.get_status_display()})"

    @property
    def duration(self):
        return (self.finished_at - self.started_at) if self.finished_at else None


class SyncRecord(models.Model):
    """One row of the Synchronization report: what a run did to one record, and why."""

    class Source(models.TextChoices):
        API = "api", "Luminate API (getUser)"
        FILE = "file", "Changed-records file"
        PLATFORM = "platform", "This platform"

    # Indexed by the (run, category) index, which leads with it.
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="records", db_index=False)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    constituent_id = models.CharField(max_length=32, blank=True, db_index=True)
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_records"
    )
    # The profile the constituent's link moved off (policy row 22), unlinked and opted out by this record.
    moved_from_profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_records_moved_from"
    )
    mobile = models.CharField(max_length=40, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=255, blank=True)
    profile_status = models.CharField(max_length=40, blank=True)
    # Not indexed alone: a dozen values, and every query for it names the run (the run, category index).
    category = models.CharField(max_length=40)
    reason = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    changes = JSONField(default=dict, blank=True, help_text="field -> [before, after]")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["run", "category"]),
            # A run's own rows for given constituents (the cross-chunk claims of a mobile number, policy row
            # 12): without it SQLite walks every row of the run, a million in an initial load, per chunk.
            models.Index(fields=["run", "constituent_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.category}: {self.constituent_id or self.mobile}"


class LinkSnapshot(models.Model):
    """The mapped values and opt-in of a constituent link at its last successful sync (policy.md words)."""

    # Indexed by the one-snapshot-per-link constraint, which leads with it.
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="snapshots", db_index=False
    )
    constituent_id = models.CharField(max_length=32)
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="link_snapshots"
    )
    fields = JSONField(default=dict)
    opted_in = models.BooleanField(default=False)
    phone = models.CharField(max_length=20, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()
    reconciled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The inbound run that last wrote this snapshot, and the mobile number of the profile the constituent
    # was linked to before that run: a number's holder at the start of a run keeps it for the whole run
    # (policy row 12), whichever chunk reads it first.
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    phone_before_run = models.CharField(max_length=20, blank=True)
    # Set when getUser last answered "not found" (deleted or merged in Luminate, policy row 3): the link is
    # kept, and flagged here until Luminate finds the constituent again.
    not_found_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "constituent_id"], name="one_snapshot_per_link")
        ]


class InboundChunk(models.Model):
    """A checkpointed slice of an inbound run: a list of constituent IDs, done or not."""

    # Indexed by the one-chunk-per-position constraint, which leads with it.
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    position = models.PositiveIntegerField()
    constituent_ids = JSONField()
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="one_chunk_per_position")]


class PendingConstituent(models.Model):
    """A constituent to read again on the next run (policy row 4), even if the next file lacks it."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="pending_constituents"
    )
    constituent_id = models.CharField(max_length=32)
    reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "constituent_id"], name="one_pending_per_constituent"
            )
        ]


class ProcessedFile(models.Model):
    """A changed-records file already ingested (or skipped by an Administrator), never read twice."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="processed_files")
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    skipped_by = models.CharField(
        max_length=150, blank=True, help_text="Set when an Administrator skipped it."
    )
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "name", "size", "sha256"], name="file_processed_once"
            )
        ]


class OutboundItem(models.Model):
    """Delivery state of one consent event or call for one integration (at least once, idempotent)."""

    class Kind(models.TextChoices):
        OPT_IN = "opt_in", "Opt-in"
        OPT_OUT = "opt_out", "Opt-out"
        CALL = "call", "Call"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        WAITING = "waiting", "Waiting (no email yet)"
        IN_FLIGHT = "in_flight", "In flight"
        DELIVERED = "delivered", "Delivered"
        SUPERSEDED = "superseded", "Superseded by a later opt-out"
        FAILED = "failed", "Failed"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="outbound_items")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    consent_event = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    category = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "consent_event"],
                condition=models.Q(consent_event__isnull=False),
                name="one_item_per_event",
            ),
            models.UniqueConstraint(
                fields=["integration", "call"],
                condition=models.Q(call__isnull=False),
                name="one_item_per_call",
            ),
        ]


class FieldConflict(models.Model):
    """A field changed on both sides since the last sync, held for an Administrator (policy row 19)."""

    class Resolution(models.TextChoices):
        OPEN = "open", "Open"
        KEPT_OURS = "ours", "Kept ours"
        TOOK_LUMINATE = "luminate", "Took Luminate's"
        SUPERSEDED = "superseded", "Superseded by a later run"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="conflicts")
    record = models.ForeignKey(
        SyncRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="conflicts"
    )
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    constituent_id = models.CharField(max_length=32)
    field = models.CharField(max_length=40)
    ours = models.TextField(blank=True)
    theirs = models.TextField(blank=True)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, default=Resolution.OPEN)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class RunLock(models.Model):
    """A lease that keeps runs of one integration from overlapping (``engine/locks.py`` says which).

    A crashed holder stops renewing, so its lease expires and the next run takes the lock.
    """

    class Scope(models.TextChoices):
        INTEGRATION = "integration", "Runs that write constituent links: inbound, or a full outbound run"
        OUTBOUND = "outbound", "Outbound runs, one at a time"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=12, choices=Scope.choices)
    # The direction of the run holding it: an outbound run that finds an inbound run holding the
    # integration's lock sends opt-outs only, rather than waiting.
    direction = models.CharField(max_length=10, choices=Direction.choices)
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "scope"], name="one_lock_per_scope")]


class OutboundCursor(models.Model):
    """How far the outbound sync has read the platform's consent event log and call records."""

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="outbound_cursor")
    last_event_id = models.BigIntegerField(default=0)
    last_call_id = models.BigIntegerField(default=0)


class IntegrationHealth(models.Model):
    """The last reported state of one aspect of an integration's sync, so Administrators are emailed once
    per change of state: each direction's runs, and the nightly file, are watched apart, so that a
    succeeding outbound run never reads as the recovery of a partial inbound one."""

    class Aspect(models.TextChoices):
        INBOUND = "inbound", "Luminate → platform runs"
        OUTBOUND = "outbound", "Platform → Luminate runs"
        CHANGED_FILE = "changed_file", "The nightly changed-records file"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="health")
    aspect = models.CharField(max_length=12, choices=Aspect.choices)
    state = models.CharField(max_length=20, default="ok")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "aspect"], name="one_health_per_aspect")
        ]
