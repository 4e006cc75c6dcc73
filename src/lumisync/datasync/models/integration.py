"""An organization's CRM integration: its settings, field mappings, group opt-in paths and audit log.

Secrets (the API login's password, the API key, the file server and Site Admin passwords) are stored with
:class:`lumisync.core.fields.EncryptedTextField`; nothing here ever renders them.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models

from lumisync.accounts.models import Organization
from lumisync.core.fields import EncryptedTextField
from lumisync.luminate.files import DEFAULT_PATTERN
from lumisync.subscribers.models import OptInPath

__all__ = [
    "AuditEntry",
    "ConflictPolicy",
    "CsvDelimiter",
    "CsvEncoding",
    "FieldMapping",
    "GroupPathMapping",
    "Integration",
    "IntegrationType",
    "MappingKind",
    "OPT_IN_FIELD",
    "SyncType",
]


class IntegrationType(models.TextChoices):
    LUMINATE = "luminate", "Convio Luminate"


class SyncType(models.TextChoices):
    LIBERAL = "liberal", "Liberal (both directions, whatever the Luminate opt-in status)"
    CONSERVATIVE = "conservative", "Conservative (only records whose Luminate opt-in is true)"


class ConflictPolicy(models.TextChoices):
    HOLD = "hold", "Hold both values for an Administrator to resolve"
    LUMINATE_WINS = "luminate_wins", "Luminate wins"
    PLATFORM_WINS = "platform_wins", "This platform wins"
    NEWEST_WINS = "newest_wins", "The newest change wins"


class CsvDelimiter(models.TextChoices):
    AUTO = "auto", "Detect from the header row"
    COMMA = ",", "Comma (,)"
    TAB = "\t", "Tab"
    PIPE = "|", "Pipe (|)"
    SEMICOLON = ";", "Semicolon (;)"


class CsvEncoding(models.TextChoices):
    AUTO = "auto", "Detect"
    UTF8 = "utf-8", "UTF-8"
    CP1252 = "cp1252", "Windows-1252 (cp1252)"
    UTF16 = "utf-16", "UTF-16"


class Integration(models.Model):
    """One organization's data sync with its CRM (today: Convio Luminate).

    ``config_version`` goes up whenever a setting that Test Connection checks changes, so a passing test
    counts for activation only while ``tested_config_version`` still equals it.
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="integration")
    integration_type = models.CharField(
        max_length=20, choices=IntegrationType.choices, default=IntegrationType.LUMINATE
    )

    # The API user.
    login_name = models.CharField(max_length=150, blank=True)
    login_password = EncryptedTextField(blank=True)
    default_opt_in_path = models.ForeignKey(
        OptInPath, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    export_url = models.CharField(max_length=500, blank=True)
    file_name_pattern = models.CharField(max_length=200, default=DEFAULT_PATTERN)
    organization_code = models.CharField(max_length=60, blank=True)
    api_key = EncryptedTextField(blank=True)
    api_host = models.CharField(max_length=255, blank=True)
    center_ids = models.CharField(max_length=500, blank=True)
    source_code = models.CharField(max_length=100, default="mcommons")
    no_welcome = models.CharField(max_length=1, blank=True)
    datasync_username = models.CharField(max_length=150, blank=True)
    datasync_password = EncryptedTextField(blank=True)
    site_admin_username = models.CharField(max_length=150, blank=True)
    site_admin_password = EncryptedTextField(blank=True)
    opt_in_field = models.CharField(max_length=100, default="custom_boolean50")
    sync_type = models.CharField(max_length=20, choices=SyncType.choices, default=SyncType.CONSERVATIVE)
    liberal_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    liberal_confirmed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    # Advanced.
    api_concurrency = models.PositiveSmallIntegerField(default=8)
    api_requests_per_second = models.FloatField(default=10.0)

    # Scheduling and engine behaviour (times are in the organization's time zone).
    overnight_window_start = models.TimeField(default=dt.time(1, 0))
    overnight_window_end = models.TimeField(default=dt.time(5, 0))
    day_window_start = models.TimeField(default=dt.time(6, 0))
    day_window_end = models.TimeField(default=dt.time(22, 0))
    outbound_interval_minutes = models.PositiveSmallIntegerField(default=5)
    near_real_time = models.BooleanField(
        default=False,
        help_text="Also send each opt-in or opt-out to Luminate within seconds of it happening, at any hour.",
    )
    conflict_policy = models.CharField(
        max_length=20, choices=ConflictPolicy.choices, default=ConflictPolicy.HOLD
    )
    take_values_from_file = models.BooleanField(default=False)
    expect_manifest = models.BooleanField(default=False)
    csv_delimiter = models.CharField(max_length=4, choices=CsvDelimiter.choices, default=CsvDelimiter.AUTO)
    csv_encoding = models.CharField(max_length=20, choices=CsvEncoding.choices, default=CsvEncoding.AUTO)
    file_server_fingerprint = models.CharField(max_length=100, blank=True)
    allow_plain_http = models.BooleanField(default=False)

    # State.
    active = models.BooleanField(default=False)
    first_activated_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    initial_load_requested = models.BooleanField(default=False)
    initial_load_completed_at = models.DateTimeField(null=True, blank=True)
    export_earlier_opt_ins = models.BooleanField(default=False)
    outbound_start_event_id = models.BigIntegerField(null=True, blank=True)

    config_version = models.PositiveIntegerField(default=1)
    tested_config_version = models.PositiveIntegerField(null=True, blank=True)
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_passed = models.BooleanField(default=False)
    last_test_results = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.get_integration_type_display()} integration of {self.organization}"

    @property
    def test_is_current(self) -> bool:
        """A passing Test Connection for the settings as they are now."""
        return self.last_test_passed and self.tested_config_version == self.config_version

    @property
    def is_liberal(self) -> bool:
        return self.sync_type == SyncType.LIBERAL


# The opt-in row's ``field``: its API name is ``Integration.opt_in_field``.
OPT_IN_FIELD = "opt_in_status"


class MappingKind(models.TextChoices):
    CONSTITUENT = "constituent", "Constituent field"
    DONATION = "donation", "Donation"
    CALL = "call", "Call"


class FieldMapping(models.Model):
    """One row of Edit Field Mappings: our field, its Luminate API name and CSV heading.

    The opt-in row has no API name of its own: it is the integration's ``opt_in_field`` (one setting shown in
    both places), which :attr:`api_name` returns.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="field_mappings")
    field = models.CharField(max_length=40)
    kind = models.CharField(max_length=20, choices=MappingKind.choices)
    api_field_name = models.CharField(max_length=100, blank=True)
    csv_heading = models.CharField(max_length=100, blank=True)
    required = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "field"], name="datasync_one_mapping_per_field")
        ]

    def __str__(self) -> str:
        return f"{self.field} -> {self.api_name or '(none)'}"

    @property
    def api_name(self) -> str:
        return self.integration.opt_in_field if self.field == OPT_IN_FIELD else self.api_field_name


class GroupPathMapping(models.Model):
    """Members of a Luminate group join through this web opt-in path; rows are tried in ``position`` order."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="group_paths")
    group_id = models.CharField(max_length=32)
    group_name = models.CharField(max_length=255, blank=True, help_text="As listGroups named it.")
    opt_in_path = models.ForeignKey(OptInPath, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "group_id"], name="datasync_one_path_per_group")
        ]

    def __str__(self) -> str:
        return f"{self.group_name or self.group_id} -> {self.opt_in_path}"


class AuditEntry(models.Model):
    """Who changed what in an integration, and when. ``changes`` never holds a secret's value."""

    class Action(models.TextChoices):
        CREATED = "created", "Created the integration"
        SETTINGS = "settings", "Changed settings"
        LIBERAL_CONFIRMED = "liberal_confirmed", "Confirmed SMS consent for Liberal sync"
        MAPPINGS = "mappings", "Changed field mappings"
        GROUP_PATHS = "group_paths", "Changed group opt-in paths"
        TESTED = "tested", "Tested the connection"
        ACTIVATED = "activated", "Activated"
        DEACTIVATED = "deactivated", "Deactivated"
        FILE_SKIPPED = "file_skipped", "Skipped a changed-records file"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=255, help_text="The user name, or how the change was made.")
    action = models.CharField(max_length=30, choices=Action.choices)
    summary = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="Field -> [before, after].")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_label}: {self.get_action_display()} ({self.created_at:%Y-%m-%d %H:%M})"
