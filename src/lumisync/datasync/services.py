"""What the set-up screens and the ``lumisync integration`` command do, and what the sync engine reuses.

The engine builds its Luminate client with :func:`luminate_site_config`, reaches the changed files with
:func:`file_source` and :func:`file_credentials`, and opens them with :func:`open_changed_file`. The set-up
pages ask :func:`activation_numbers` what the first activation would send, and :func:`next_inbound_run` when
the scheduler starts the next inbound run. Every change of settings, mappings or state goes through a
function here that also writes an :class:`AuditEntry`; secret values never reach it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lumisync.datasync.engine import schedule
from lumisync.datasync.mappings import label_of, seed_default_mappings
from lumisync.datasync.models import (
    OPT_IN_FIELD,
    AuditEntry,
    CsvDelimiter,
    GroupPathMapping,
    Integration,
    IntegrationType,
    SyncType,
)
from lumisync.datasync.sites import luminate_client
from lumisync.luminate import Credentials, LuminateError, SiteConfig
from lumisync.luminate import files as luminate_files
from lumisync.luminate.egress import EgressRefused
from lumisync.subscribers.models import Channel, ConsentEvent, OptInPath, Subscription

SECRET_FIELDS = ("login_password", "api_key", "datasync_password", "site_admin_password")
# Luminate's API cannot be called without these, so an active integration cannot clear them.
API_SECRETS = ("login_password", "api_key")

# A value for a secret in :func:`apply_settings`: remove the stored one (a blank value keeps it).
CLEAR_SECRET = object()

# Settings Test Connection depends on: changing one makes an earlier passing test stale for activation.
TESTED_FIELDS = frozenset(
    {
        "login_name",
        "login_password",
        "export_url",
        "file_name_pattern",
        "organization_code",
        "api_key",
        "api_host",
        "datasync_username",
        "datasync_password",
        "opt_in_field",
        "expect_manifest",
        "csv_delimiter",
        "csv_encoding",
        "file_server_fingerprint",
        "allow_plain_http",
    }
)

HIDDEN = "(secret)"

UNTESTED_WHILE_ACTIVE = (
    "The sync is active and keeps running on settings Test Connection has not checked: run Test Connection "
    "now, and deactivate the integration if it fails."
)


class ActivationRefused(Exception):
    """Activation is not possible yet; the message says what to do first."""


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in user, or the command line (``user`` is then None)."""

    label: str
    user: Any = None

    @classmethod
    def of(cls, user) -> Actor:
        return cls(label=user.get_username(), user=user)


def insecure_http_allowed() -> bool:
    return bool(getattr(settings, "LUMISYNC_ALLOW_INSECURE_HTTP", False))


def private_hosts_allowed() -> bool:
    return bool(getattr(settings, "LUMISYNC_ALLOW_PRIVATE_HOSTS", False))


def api_ip_addresses() -> list[str]:
    """The addresses to add to Luminate's "API IP Filter Block", each as a /32 (or /128) network."""
    configured = getattr(settings, "LUMISYNC_API_IP_ADDRESSES", [])
    if isinstance(configured, str):
        configured = configured.split(",")
    cidrs = []
    for address in (item.strip() for item in configured):
        if address:
            cidrs.append(address if "/" in address else f"{address}/{128 if ':' in address else 32}")
    return cidrs


def uses_plain_http(integration: Integration) -> bool:
    """Plain http only where the operator allows it at all and the integration asks for it."""
    return integration.allow_plain_http and insecure_http_allowed()


# -- audit ---------------------------------------------------------------------------------------------


def record_audit(
    integration: Integration,
    actor: Actor,
    action: str,
    summary: str = "",
    changes: Mapping[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        integration=integration,
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        summary=summary,
        changes=dict(changes or {}),
    )


def _shown(name: str, value: Any) -> Any:
    """``value`` as the audit log keeps it: a secret only as set or not set, blank as None."""
    if name in SECRET_FIELDS:
        return HIDDEN if value else None
    if value is None or value == "":
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _lock(integration: Integration) -> None:
    """Lock the integration's row for this transaction (PostgreSQL) and read its current values into it."""
    Integration.objects.select_for_update().filter(pk=integration.pk).values_list("pk").get()
    integration.refresh_from_db()


# -- creating and configuring --------------------------------------------------------------------------


def create_integration(
    organization, actor: Actor, integration_type: str = IntegrationType.LUMINATE
) -> Integration:
    """Create the organization's integration with the seed's default field mappings."""
    with transaction.atomic():
        integration = Integration.objects.create(organization=organization, integration_type=integration_type)
        seed_default_mappings(integration)
        record_audit(
            integration,
            actor,
            AuditEntry.Action.CREATED,
            f"Created a {integration.get_integration_type_display()} integration.",
        )
    return integration


def apply_settings(
    integration: Integration,
    values: Mapping[str, Any],
    actor: Actor,
    *,
    sms_consent_confirmed: bool = False,
) -> list[str]:
    """Store ``values`` (already validated) and audit what changed; returns the changed field names.

    A secret whose value is empty keeps the stored one; :data:`CLEAR_SECRET` removes it. Switching to
    Liberal needs ``sms_consent_confirmed``: the Administrator's word that the organization holds SMS
    consent for every mobile number in Luminate, which is audited with who and when.
    """
    changes: dict[str, list[Any]] = {}
    with transaction.atomic():
        _lock(integration)
        becomes_liberal = values.get("sync_type") == SyncType.LIBERAL and not integration.is_liberal
        if becomes_liberal and not sms_consent_confirmed:
            raise ValueError(
                "Liberal sync needs the confirmation that the organization holds SMS consent for every "
                "mobile number in Luminate."
            )
        for name, new in values.items():
            if name in SECRET_FIELDS and not new:
                continue
            if new is CLEAR_SECRET:
                new = ""
            old = getattr(integration, name)
            if old == new:
                continue
            changes[name] = [_shown(name, old), _shown(name, new)]
            setattr(integration, name, new)
        if not changes:
            return []
        if TESTED_FIELDS & changes.keys():
            integration.config_version += 1
        if becomes_liberal:
            integration.liberal_confirmed_by = actor.user
            integration.liberal_confirmed_at = timezone.now()
        integration.save()
        record_audit(
            integration,
            actor,
            AuditEntry.Action.SETTINGS,
            "Changed " + ", ".join(sorted(changes)) + ".",
            changes,
        )
        if becomes_liberal:
            record_audit(
                integration,
                actor,
                AuditEntry.Action.LIBERAL_CONFIRMED,
                f"{actor.label} confirmed that {integration.organization} holds SMS consent for every mobile "
                "number in Luminate, and switched to Liberal sync.",
            )
    return sorted(changes)


def simulator_settings(simulator, **overrides: Any) -> dict[str, Any]:
    """The settings that point an integration at a running Luminate simulator, for :func:`apply_settings`.

    The simulator (:func:`lumisync.simulator.running_simulator`) serves its API over plain http on
    127.0.0.1 and drops its changed files on its plain FTP server, so ``allow_plain_http`` is on; the site
    must allow both too (``LUMISYNC_ALLOW_PRIVATE_HOSTS`` and ``LUMISYNC_ALLOW_INSECURE_HTTP``, on by
    default outside production). ``overrides`` replace or add settings.
    """
    return {
        "login_name": simulator.login_name,
        "login_password": simulator.login_password,
        "api_key": simulator.api_key,
        "api_host": simulator.host,
        "organization_code": simulator.org,
        "export_url": simulator.ftp_url,
        "file_name_pattern": luminate_files.DEFAULT_PATTERN,
        "datasync_username": simulator.ftp_user,
        "datasync_password": simulator.ftp_password,
        "opt_in_field": simulator.config.opt_in_field,
        "allow_plain_http": True,
        **overrides,
    }


@dataclass(frozen=True)
class MappingChange:
    field: str
    api_field_name: str
    csv_heading: str
    required: bool


def save_mappings(integration: Integration, rows: Iterable[MappingChange], actor: Actor) -> list[str]:
    """Store the edited mapping rows (already validated); the opt-in row's API name is ``opt_in_field``."""
    changes: dict[str, list[Any]] = {}
    with transaction.atomic():
        _lock(integration)
        current = {mapping.field: mapping for mapping in integration.field_mappings.all()}
        tested = False
        for row in rows:
            mapping = current[row.field]
            label = label_of(row.field)
            if row.field == OPT_IN_FIELD:
                if integration.opt_in_field != row.api_field_name:
                    changes[f"{label}: API field name"] = [integration.opt_in_field, row.api_field_name]
                    integration.opt_in_field = row.api_field_name
                    tested = True
                new_values = {"csv_heading": row.csv_heading, "required": row.required}
            else:
                new_values = {
                    "api_field_name": row.api_field_name,
                    "csv_heading": row.csv_heading,
                    "required": row.required,
                }
            dirty = False
            for name, new in new_values.items():
                old = getattr(mapping, name)
                if old != new:
                    changes[f"{label}: {name.replace('_', ' ')}"] = [old, new]
                    setattr(mapping, name, new)
                    dirty = True
                    tested = tested or name != "required"
            if dirty:
                mapping.save()
        if not changes:
            return []
        if tested:
            integration.config_version += 1
        integration.save()
        record_audit(
            integration,
            actor,
            AuditEntry.Action.MAPPINGS,
            f"Changed {len(changes)} mapping value(s).",
            changes,
        )
    return sorted(changes)


@dataclass(frozen=True)
class GroupPath:
    group_id: str
    group_name: str
    opt_in_path_id: int


def save_group_paths(integration: Integration, rows: Iterable[GroupPath], actor: Actor) -> bool:
    """Replace the group-to-path list with ``rows`` in their order; False when nothing changed."""

    new = [(row.group_id, row.group_name, row.opt_in_path_id) for row in rows]
    with transaction.atomic():
        existing = list(integration.group_paths.values_list("group_id", "group_name", "opt_in_path_id"))
        if existing == new:
            return False
        path_names = dict(
            OptInPath.objects.filter(pk__in={item[2] for item in existing + new}).values_list("pk", "name")
        )

        def describe(items) -> str | None:
            return (
                "; ".join(f"{name or gid} -> {path_names.get(path, path)}" for gid, name, path in items)
                or None
            )

        integration.group_paths.all().delete()
        GroupPathMapping.objects.bulk_create(
            GroupPathMapping(
                integration=integration, group_id=gid, group_name=name, opt_in_path_id=path, position=position
            )
            for position, (gid, name, path) in enumerate(new)
        )
        record_audit(
            integration,
            actor,
            AuditEntry.Action.GROUP_PATHS,
            f"Group opt-in paths now: {len(new)} row(s).",
            {"group paths": [describe(existing), describe(new)]},
        )
    return True


# -- what the engine reuses ----------------------------------------------------------------------------


def luminate_site_config(integration: Integration) -> SiteConfig:
    """The Luminate client configuration of ``integration`` (raises ValueError or EgressRefused if unusable)."""
    return SiteConfig(
        host=integration.api_host,
        org=integration.organization_code or None,
        credentials=Credentials(
            api_key=str.__str__(integration.api_key),
            login_name=integration.login_name,
            login_password=str.__str__(integration.login_password),
        ),
        allow_http=uses_plain_http(integration),
        allow_private=private_hosts_allowed(),
        concurrency=integration.api_concurrency,
        rate=integration.api_requests_per_second,
    )


def file_source(integration: Integration) -> luminate_files.FileSource:
    """Where the nightly changed files are and how to fetch them."""
    return luminate_files.FileSource(
        url=integration.export_url,
        pattern=integration.file_name_pattern,
        org=integration.organization_code,
        manifest=integration.expect_manifest,
        fingerprint=integration.file_server_fingerprint or None,
        ca_file=getattr(settings, "LUMISYNC_FILE_SERVER_CA_FILE", None) or None,
        allow_http=uses_plain_http(integration),
        allow_private=private_hosts_allowed(),
    )


def file_credentials(integration: Integration) -> luminate_files.Credentials | None:
    if not integration.datasync_username:
        return None
    return luminate_files.Credentials(
        username=integration.datasync_username, password=str.__str__(integration.datasync_password)
    )


_DELIMITER_CANDIDATES = (",", "\t", "|", ";")


def detect_delimiter(path: Path) -> str:
    """The candidate delimiter that occurs most often in the header row (a comma when none does).

    Counting bytes works for every encoding the reader accepts, UTF-16 included, since the candidates are
    ASCII.
    """
    with path.open("rb") as handle:
        header = handle.readline(1 << 20)
    counts = {candidate: header.count(candidate.encode("ascii")) for candidate in _DELIMITER_CANDIDATES}
    best = max(_DELIMITER_CANDIDATES, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def open_changed_file(integration: Integration, path: Path, *, name: str | None = None):
    """A :class:`ChangedFileReader` over a fetched file with the integration's delimiter and encoding."""
    delimiter = integration.csv_delimiter
    if delimiter == CsvDelimiter.AUTO:
        delimiter = detect_delimiter(path)
    return luminate_files.ChangedFileReader(
        path,
        delimiter=delimiter,
        encoding=integration.csv_encoding,
        tz=integration.organization.zone,
        name=name,
    )


def runs_untested(integration: Integration) -> bool:
    """The sync is active on settings that Test Connection has not passed (changed since, or failed since)."""
    return integration.active and not integration.test_is_current


@dataclass(frozen=True)
class NextInboundRun:
    """When the scheduler starts the next inbound run, in the organization's time zone."""

    at: dt.datetime
    # The overnight window is open and has not had its run yet: the scheduler starts it at its next tick.
    window_open: bool

    def __str__(self) -> str:
        if self.window_open:
            return f"within a minute, as the overnight window is open now ({local_time_text(self.at)})"
        return local_time_text(self.at)


def next_inbound_run(integration: Integration, now: dt.datetime | None = None) -> NextInboundRun:
    """The scheduler's own answer (``schedule.plan_of``) for ``integration`` if it is active from ``now``:
    now, when the overnight window is open and has not had its run yet, else the next window's start."""
    now = now or timezone.now()
    zone = integration.organization.zone
    local = now.astimezone(zone)
    if schedule.plan_of(integration, now).inbound:
        return NextInboundRun(local, window_open=True)
    start = integration.overnight_window_start
    candidate = dt.datetime.combine(local.date(), start, tzinfo=zone)
    if candidate <= local:
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), start, tzinfo=zone)
    return NextInboundRun(candidate, window_open=False)


def luminate_groups(integration: Integration) -> tuple[list[tuple[str, str]], str]:
    """listGroups as ``(id, name)`` pairs, or an empty list and the reason it could not be read."""
    if not all(
        (integration.api_host, integration.login_name, integration.login_password, integration.api_key)
    ):
        return [], (
            "The API settings are not complete: enter the API host name, Login, Password and API key under "
            "Configure Integration, then come back here to choose Luminate groups."
        )
    try:
        with luminate_client(luminate_site_config(integration)) as client:
            groups = client.list_groups()
    except (LuminateError, EgressRefused, ValueError) as exc:
        return [], str(exc)
    return [(str(group.get("id")), str(group.get("name") or group.get("id"))) for group in groups], ""


def local_time_text(moment: dt.datetime) -> str:
    """``moment`` as people read it, in its own time zone: "Saturday 28 November 2026 at 01:00 (EST)"."""
    return f"{moment:%A %-d %B %Y at %H:%M} ({moment.tzname()})"


# -- activation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationNumbers:
    """The figures behind the first activation's two questions."""

    profiles: int
    linked_profiles: int
    earlier_opt_ins: int
    earlier_opt_in_people: int
    # Of those people, how many are subscribed now: the consent sent for them is their current one.
    still_subscribed: int
    last_event_id: int


def activation_numbers(integration: Integration) -> ActivationNumbers:
    """The figures as the outbound sync would see them: only opt-ins it sends count (the platform's own, in a
    synced campaign or in none; see ``engine.outbound._exported`` and ``_has_active_synced_subscription``)."""
    # The engine's context reads this module, so it is imported only when needed.
    from lumisync.datasync.engine.context import load_context

    organization = integration.organization
    synced = load_context(integration).synced_campaign_ids
    opt_ins = ConsentEvent.objects.filter(organization=organization, kind=ConsentEvent.Kind.OPT_IN).exclude(
        channel=Channel.LUMINATE
    )
    subscriptions = Subscription.objects.filter(status=Subscription.Status.ACTIVE)
    if synced:
        opt_ins = opt_ins.filter(Q(campaign__isnull=True) | Q(campaign_id__in=synced))
        subscriptions = subscriptions.filter(campaign_id__in=synced)
    people = organization.profiles.filter(pk__in=opt_ins.values("profile"))
    last = ConsentEvent.objects.filter(organization=organization).order_by("-id").values_list("id", flat=True)
    return ActivationNumbers(
        profiles=organization.profiles.count(),
        linked_profiles=organization.profiles.filter(constituent_id__isnull=False).count(),
        earlier_opt_ins=opt_ins.count(),
        earlier_opt_in_people=people.count(),
        still_subscribed=people.filter(
            opted_out_at__isnull=True, pk__in=subscriptions.values("profile")
        ).count(),
        last_event_id=last.first() or 0,
    )


def activate(
    integration: Integration,
    actor: Actor,
    *,
    initial_load: bool | None = None,
    export_earlier_opt_ins: bool | None = None,
) -> Integration:
    """Turn the sync on. The first activation needs both answers; later ones pick up where it stopped.

    ``outbound_start_event_id`` is the consent event the outbound sync starts after: 0 when the earlier
    opt-ins are to be sent, else the newest event at first activation.
    """
    with transaction.atomic():
        _lock(integration)
        if integration.active:
            raise ActivationRefused("The integration is already active.")
        if not integration.test_is_current:
            raise ActivationRefused(
                "Run Test Connection first: activation needs a passing test of the current settings."
            )
        first = integration.first_activated_at is None
        now = timezone.now()
        changes: dict[str, Any] = {"active": [False, True]}
        if first:
            if initial_load is None or export_earlier_opt_ins is None:
                raise ActivationRefused(
                    "The first activation needs two answers: run an initial load from a full export file, and "
                    "send the earlier opt-ins to Luminate (yes or no each)."
                )
            numbers = activation_numbers(integration)
            integration.first_activated_at = now
            integration.initial_load_requested = initial_load
            integration.export_earlier_opt_ins = export_earlier_opt_ins
            integration.outbound_start_event_id = 0 if export_earlier_opt_ins else numbers.last_event_id
            changes.update(
                {
                    "initial load": [None, initial_load],
                    "send earlier opt-ins": [None, export_earlier_opt_ins],
                    "earlier opt-ins at activation": [None, numbers.earlier_opt_ins],
                }
            )
        integration.active = True
        integration.activated_at = now
        integration.save()
        record_audit(
            integration,
            actor,
            AuditEntry.Action.ACTIVATED,
            f"Activated; first inbound sync {next_inbound_run(integration, now)}.",
            changes,
        )
    return integration


def deactivate(integration: Integration, actor: Actor) -> Integration:
    """Stop both schedules. Constituent links and pending outbound events stay, for reactivation."""
    with transaction.atomic():
        _lock(integration)
        if not integration.active:
            raise ActivationRefused("The integration is not active.")
        integration.active = False
        integration.deactivated_at = timezone.now()
        integration.save()
        record_audit(
            integration,
            actor,
            AuditEntry.Action.DEACTIVATED,
            "Deactivated; links and pending outbound events are kept.",
            {"active": [True, False]},
        )
    return integration
