"""Creating, configuring, auditing and activating an integration through the services."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from datasync_testing import SECRET_VALUES
from django.db import connection

from lumisync.datasync import services
from lumisync.datasync.engine import schedule
from lumisync.datasync.mappings import DEFAULT_MAPPINGS, seed_default_mappings
from lumisync.datasync.models import (
    OPT_IN_FIELD,
    AuditEntry,
    Direction,
    Integration,
    MappingKind,
    SyncRun,
    SyncType,
)
from lumisync.luminate.files import BadFile
from lumisync.subscribers import services as subscribers
from lumisync.subscribers.models import Campaign, Channel, OptInPath

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def test_create_seeds_the_seed_table_with_luminate_names(integration):
    rows = {m.field: m for m in integration.field_mappings.all()}
    assert [m.field for m in integration.field_mappings.all()] == [d.field for d in DEFAULT_MAPPINGS]
    assert rows["phone_number"].api_name == "mobile_phone"
    assert rows["profile_first_name"].api_name == "name.first"
    assert rows["profile_email"].api_name == "primary_email"
    assert rows["address_street_1"].api_name == "primary_address.street1"
    assert rows["constituent_id"].csv_heading == "CONS_ID"
    assert rows["donation_transaction_id"].kind == MappingKind.DONATION
    assert rows["call_alert_id"].kind == MappingKind.CALL
    # The opt-in row is the integration's opt-in field: one setting.
    assert rows[OPT_IN_FIELD].api_name == integration.opt_in_field == "custom_boolean50"
    assert integration.source_code == "mcommons"
    assert integration.api_concurrency == 8 and integration.api_requests_per_second == 10
    assert integration.audit_entries.get().action == AuditEntry.Action.CREATED


def test_seeding_again_keeps_edited_rows(integration):
    integration.field_mappings.filter(field="phone_number").update(api_field_name="cell_phone")
    integration.field_mappings.filter(field="address_city").delete()
    seed_default_mappings(integration)
    rows = {m.field: m for m in integration.field_mappings.all()}
    assert rows["phone_number"].api_field_name == "cell_phone"
    assert rows["address_city"].api_field_name == "primary_address.city"
    assert len(rows) == len(DEFAULT_MAPPINGS)


def test_a_cleared_secret_is_removed_and_audited_without_its_value(integration, actor):
    services.apply_settings(integration, dict(SECRET_VALUES), actor)
    changed = services.apply_settings(integration, {"site_admin_password": services.CLEAR_SECRET}, actor)
    integration.refresh_from_db()
    assert changed == ["site_admin_password"] and integration.site_admin_password == ""
    assert integration.api_key == SECRET_VALUES["api_key"]
    entry = integration.audit_entries.filter(action=AuditEntry.Action.SETTINGS).first()
    assert entry.changes == {"site_admin_password": [services.HIDDEN, None]}


def test_secrets_are_encrypted_at_rest_and_kept_when_blank(integration, actor):
    services.apply_settings(integration, {"api_key": SECRET_VALUES["api_key"], "login_name": "api"}, actor)
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM datasync_integration WHERE id = %s", [integration.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and SECRET_VALUES["api_key"] not in stored
    services.apply_settings(integration, {"api_key": "", "login_name": "api2"}, actor)
    integration.refresh_from_db()
    assert integration.api_key == SECRET_VALUES["api_key"]
    assert repr(integration.api_key) == "Secret('********')"


def test_audit_records_who_what_and_hides_secret_values(integration, actor):
    changed = services.apply_settings(
        integration, {"api_key": SECRET_VALUES["api_key"], "api_host": "secure2.convio.net"}, actor
    )
    assert changed == ["api_host", "api_key"]
    entry = integration.audit_entries.filter(action=AuditEntry.Action.SETTINGS).get()
    assert entry.actor == actor.user and entry.actor_label == actor.label
    assert entry.changes["api_host"] == [None, "secure2.convio.net"]
    assert entry.changes["api_key"] == [None, services.HIDDEN]
    assert SECRET_VALUES["api_key"] not in str(entry.changes) + entry.summary


def test_unchanged_values_write_no_audit(integration, actor):
    assert services.apply_settings(integration, {"source_code": "mcommons"}, actor) == []
    assert not integration.audit_entries.filter(action=AuditEntry.Action.SETTINGS).exists()


def test_only_tested_settings_make_a_test_stale(integration, actor):
    version = integration.config_version
    services.apply_settings(integration, {"notes": "call Sam before changing anything"}, actor)
    integration.refresh_from_db()
    assert integration.config_version == version
    services.apply_settings(integration, {"api_host": "secure3.convio.net"}, actor)
    integration.refresh_from_db()
    assert integration.config_version == version + 1


def test_liberal_needs_the_consent_confirmation_which_is_audited(integration, actor):
    with pytest.raises(ValueError, match="SMS consent"):
        services.apply_settings(integration, {"sync_type": SyncType.LIBERAL}, actor)
    services.apply_settings(integration, {"sync_type": SyncType.LIBERAL}, actor, sms_consent_confirmed=True)
    integration.refresh_from_db()
    assert integration.is_liberal
    assert integration.liberal_confirmed_by == actor.user and integration.liberal_confirmed_at is not None
    entry = integration.audit_entries.get(action=AuditEntry.Action.LIBERAL_CONFIRMED)
    assert actor.label in entry.summary and "SMS consent" in entry.summary


def test_opt_in_row_and_opt_in_field_are_one_setting(integration, actor):
    rows = [
        services.MappingChange(m.field, m.api_name, m.csv_heading, m.required)
        for m in integration.field_mappings.all()
    ]
    rows = [
        services.MappingChange(r.field, "custom_boolean12", r.csv_heading, r.required)
        if r.field == OPT_IN_FIELD
        else r
        for r in rows
    ]
    services.save_mappings(integration, rows, actor)
    integration.refresh_from_db()
    assert integration.opt_in_field == "custom_boolean12"
    assert integration.field_mappings.get(field=OPT_IN_FIELD).api_name == "custom_boolean12"
    entry = integration.audit_entries.get(action=AuditEntry.Action.MAPPINGS)
    assert entry.changes == {"Opt-in status: API field name": ["custom_boolean50", "custom_boolean12"]}


def test_site_config_and_file_source_come_from_the_integration(integration, actor, settings):
    services.apply_settings(
        integration,
        {
            "api_host": "secure2.convio.net",
            "organization_code": "riversorg",
            "login_name": "apiuser",
            "login_password": SECRET_VALUES["login_password"],
            "api_key": SECRET_VALUES["api_key"],
            "api_concurrency": 4,
            "api_requests_per_second": 2.5,
            "export_url": "ftps://customerftp.convio.net/export/",
            "expect_manifest": True,
            "datasync_username": "rivers",
            "datasync_password": SECRET_VALUES["datasync_password"],
            "allow_plain_http": True,
        },
        actor,
    )
    integration.refresh_from_db()
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = False
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = False
    site = services.luminate_site_config(integration)
    assert site.base_url == "https://secure2.convio.net/riversorg/site/"
    assert site.credentials.api_key == SECRET_VALUES["api_key"]
    assert site.concurrency == 4 and site.rate == 2.5
    assert SECRET_VALUES["api_key"] not in repr(site)
    source = services.file_source(integration)
    assert (
        source.url == "ftps://customerftp.convio.net/export/"
        and source.manifest
        and source.org == "riversorg"
    )
    # The integration asked for plain http, but the operator does not allow it.
    assert not source.allow_http
    assert services.file_credentials(integration).password == SECRET_VALUES["datasync_password"]
    assert SECRET_VALUES["datasync_password"] not in repr(services.file_credentials(integration))


def test_api_ip_addresses_are_shown_as_networks(settings):
    settings.LUMISYNC_API_IP_ADDRESSES = "100.25.49.244, 2001:db8::1 ,34.194.244.45/32"
    assert services.api_ip_addresses() == ["100.25.49.244/32", "2001:db8::1/128", "34.194.244.45/32"]


def _local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


def _inbound_run(integration, started_at, **fields):
    # A finished run unless told otherwise: one left "running" with no live holder is a crashed run, which
    # the scheduler resumes at once.
    fields.setdefault("status", SyncRun.Status.SUCCEEDED)
    return SyncRun.objects.create(
        integration=integration, direction=Direction.INBOUND, started_at=started_at, **fields
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 23:30 in New York on 1 March: the window opens at 01:00 the next day.
        (_local(2026, 3, 1, 23, 30), _local(2026, 3, 2, 1, 0)),
        # 00:30 local: the same night's window is still ahead.
        (_local(2026, 3, 2, 0, 30), _local(2026, 3, 2, 1, 0)),
        # 05:00 local, as the window closes: the next night.
        (_local(2026, 3, 2, 5, 0), _local(2026, 3, 3, 1, 0)),
        # Noon: the next night.
        (_local(2026, 3, 2, 12, 0), _local(2026, 3, 3, 1, 0)),
    ],
)
def test_the_next_inbound_run_is_the_next_window_in_the_organizations_time_zone(integration, now, expected):
    run = services.next_inbound_run(integration, now.astimezone(dt.UTC))
    assert run.at == expected and run.at.tzinfo == NEW_YORK and not run.window_open
    assert str(run) == services.local_time_text(expected)


@pytest.mark.parametrize(
    "now", [_local(2026, 3, 2, 1, 0), _local(2026, 3, 2, 2, 0), _local(2026, 3, 2, 4, 59)]
)
def test_inside_a_window_that_has_not_had_its_run_the_run_starts_now(integration, now):
    run = services.next_inbound_run(integration, now.astimezone(dt.UTC))
    assert run.at == now and run.window_open
    assert str(run).startswith("within a minute, as the overnight window is open now")
    # The scheduler agrees: it would start the run at this tick.
    assert schedule.plan_of(integration, now).inbound


def test_a_window_that_had_its_run_points_to_the_next_night(integration):
    now = _local(2026, 3, 2, 2, 0)
    # A preview (dry run) does not count, as for the scheduler.
    _inbound_run(integration, _local(2026, 3, 2, 1, 0), dry_run=True)
    assert services.next_inbound_run(integration, now).window_open
    _inbound_run(integration, _local(2026, 3, 2, 1, 0))
    assert services.next_inbound_run(integration, now).at == _local(2026, 3, 3, 1, 0)
    # A run paused at the end of the window resumes in the next one.
    _inbound_run(integration, _local(2026, 3, 2, 1, 30), status=SyncRun.Status.PAUSED)
    assert services.next_inbound_run(integration, now).window_open


def test_a_window_across_midnight_that_opened_yesterday_is_open_now(integration):
    Integration.objects.filter(pk=integration.pk).update(
        overnight_window_start=dt.time(22, 0), overnight_window_end=dt.time(3, 0)
    )
    integration.refresh_from_db()
    now = _local(2026, 3, 2, 1, 0)
    assert services.next_inbound_run(integration, now).window_open
    _inbound_run(integration, _local(2026, 3, 1, 22, 5))
    assert services.next_inbound_run(integration, now).at == _local(2026, 3, 2, 22, 0)


def test_the_scheduler_starts_nothing_for_an_inactive_integration(integration, actor, monkeypatch):
    started = []
    monkeypatch.setattr(schedule, "_start", lambda pk, direction, target: started.append(direction) or True)
    night, day = _local(2026, 3, 2, 2, 0), _local(2026, 3, 2, 12, 0)
    assert schedule.tick(night) == [] and schedule.tick(day) == []
    _pass_test(integration)
    services.activate(integration, actor, initial_load=False, export_earlier_opt_ins=False)
    assert schedule.tick(night) == [(integration.pk, Direction.INBOUND)]
    assert schedule.tick(day) == [(integration.pk, Direction.OUTBOUND)]
    services.deactivate(integration, actor)
    # Deactivation stops both schedules at once.
    assert schedule.tick(night) == [] and schedule.tick(day) == []
    assert started == [Direction.INBOUND, Direction.OUTBOUND]


def _pass_test(integration):
    Integration.objects.filter(pk=integration.pk).update(
        last_test_passed=True, tested_config_version=integration.config_version
    )
    integration.refresh_from_db()


def test_activation_needs_a_passing_test_of_the_current_settings(integration, actor):
    with pytest.raises(services.ActivationRefused, match="Test Connection"):
        services.activate(integration, actor, initial_load=False, export_earlier_opt_ins=False)
    _pass_test(integration)
    services.apply_settings(integration, {"api_host": "secure3.convio.net"}, actor)
    with pytest.raises(services.ActivationRefused, match="Test Connection"):
        services.activate(integration, actor, initial_load=False, export_earlier_opt_ins=False)


def test_first_activation_needs_both_answers_and_stores_them(integration, actor, organization, web_path):
    profile, _ = subscribers.get_or_create_profile(organization, "+1 202 555 0143", channel=Channel.WEB)
    subscribers.opt_in(profile, web_path, channel=Channel.SMS)
    numbers = services.activation_numbers(integration)
    assert (numbers.profiles, numbers.earlier_opt_ins, numbers.earlier_opt_in_people) == (1, 1, 1)
    _pass_test(integration)
    with pytest.raises(services.ActivationRefused, match="two answers"):
        services.activate(integration, actor)
    integration = services.activate(integration, actor, initial_load=True, export_earlier_opt_ins=False)
    assert integration.active and integration.first_activated_at is not None
    assert integration.initial_load_requested and not integration.export_earlier_opt_ins
    # The outbound sync starts after the events that existed at activation.
    assert integration.outbound_start_event_id == numbers.last_event_id > 0
    entry = integration.audit_entries.get(action=AuditEntry.Action.ACTIVATED)
    assert entry.changes["initial load"] == [None, True]
    assert entry.changes["earlier opt-ins at activation"] == [None, 1]


def test_earlier_opt_ins_count_only_what_the_outbound_sync_would_send(
    integration, actor, organization, web_path
):
    # web_path's campaign is synced once it is the default path; "Newsletter" then is not.
    services.apply_settings(integration, {"default_opt_in_path": web_path}, actor)
    newsletter = OptInPath.objects.create(
        organization=organization,
        campaign=Campaign.objects.create(organization=organization, name="Newsletter"),
        name="Newsletter sign-ups",
    )
    stays, _ = subscribers.get_or_create_profile(organization, "+1 202 555 0143", channel=Channel.WEB)
    stopped, _ = subscribers.get_or_create_profile(organization, "+1 202 555 0144", channel=Channel.WEB)
    elsewhere, _ = subscribers.get_or_create_profile(organization, "+1 202 555 0145", channel=Channel.WEB)
    from_luminate, _ = subscribers.get_or_create_profile(organization, "+1 202 555 0146", channel=Channel.WEB)
    subscribers.opt_in(stays, web_path, channel=Channel.SMS)
    subscribers.opt_in(stopped, web_path, channel=Channel.SMS)
    subscribers.opt_out(stopped, channel=Channel.SMS)
    subscribers.opt_in(elsewhere, newsletter, channel=Channel.SMS)
    # What the inbound sync brought from Luminate is never sent back.
    subscribers.opt_in(from_luminate, web_path, channel=Channel.LUMINATE)
    numbers = services.activation_numbers(integration)
    assert (numbers.earlier_opt_ins, numbers.earlier_opt_in_people, numbers.still_subscribed) == (2, 2, 1)
    assert numbers.profiles == 4


def test_sending_earlier_opt_ins_starts_the_outbound_sync_at_the_beginning(integration, actor):
    _pass_test(integration)
    integration = services.activate(integration, actor, initial_load=False, export_earlier_opt_ins=True)
    assert integration.outbound_start_event_id == 0


def test_group_paths_without_the_api_settings_say_what_to_enter(integration):
    groups, problem = services.luminate_groups(integration)
    assert groups == []
    assert problem.startswith("The API settings are not complete: enter the API host name, Login, Password")
    assert "Configure Integration" in problem


def test_deactivation_keeps_state_and_reactivation_asks_nothing(integration, actor):
    _pass_test(integration)
    first = services.activate(integration, actor, initial_load=True, export_earlier_opt_ins=False)
    with pytest.raises(services.ActivationRefused, match="already active"):
        services.activate(first, actor)
    stopped = services.deactivate(first, actor)
    assert not stopped.active and stopped.deactivated_at is not None
    with pytest.raises(services.ActivationRefused, match="not active"):
        services.deactivate(stopped, actor)
    again = services.activate(stopped, actor)
    assert again.active
    assert again.first_activated_at == first.first_activated_at
    assert again.outbound_start_event_id == first.outbound_start_event_id
    assert again.initial_load_requested
    actions = list(again.audit_entries.values_list("action", flat=True))
    assert actions[:3] == [
        AuditEntry.Action.ACTIVATED,
        AuditEntry.Action.DEACTIVATED,
        AuditEntry.Action.ACTIVATED,
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("CONS_ID,PRIMARY_EMAIL,MOBILE_PHONE\r\n", ","),
        ("CONS_ID\tPRIMARY_EMAIL\tMOBILE_PHONE\r\n", "\t"),
        ('"Constituent ID";"Email";"Mobile Phone"\n', ";"),
        ("CONS_ID|EMAIL\n", "|"),
        ("CONS_ID\n", ","),
    ],
)
def test_the_delimiter_is_detected_from_the_header_row(tmp_path, header, expected):
    path = tmp_path / "changed.csv"
    path.write_text(header + "1001,a@example.org,2025550143\n", encoding="utf-16")
    assert services.detect_delimiter(path) == expected


def test_open_changed_file_uses_the_integrations_delimiter(integration, actor, tmp_path):
    path = tmp_path / "changed.csv"
    path.write_text("CONS_ID;MOBILE_PHONE\n1001;2025550143\n", encoding="utf-8")
    reader = services.open_changed_file(integration, path)
    assert reader.delimiter == ";" and [row.cons_id for row in reader] == ["1001"]
    services.apply_settings(integration, {"csv_delimiter": ","}, actor)
    with pytest.raises(BadFile, match="set the delimiter to ;"):
        services.open_changed_file(integration, path)
