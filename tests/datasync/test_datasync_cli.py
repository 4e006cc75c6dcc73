"""``lumisync integration``: the same set-up from the command line, secrets never on it."""

from __future__ import annotations

import io
import json
import re

import pytest
from datasync_testing import SECRET_VALUES, simulator_settings
from django.core.management import CommandError, call_command
from django.db.models import F

from lumisync.datasync import services
from lumisync.datasync.models import AuditEntry, Integration, SyncRun
from lumisync.subscribers import services as subscriber_services
from lumisync.subscribers.models import Channel, Profile


def run(*args, stdin: str = "", monkeypatch=None, stderr: io.StringIO | None = None) -> str:
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("integration", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


def _settings_file(tmp_path, sim, suffix=".toml", **extra):
    values = {k: v for k, v in simulator_settings(sim).items() if k not in SECRET_VALUES}
    values.update(extra)
    path = tmp_path / f"luminate{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(values))
    else:
        lines = [f"{k} = {json.dumps(v)}" for k, v in values.items() if not isinstance(v, dict)]
        path.write_text("\n".join(lines) + "\n")
    return path


def test_set_creates_configures_and_reads_secrets_from_stdin(organization, sim, tmp_path, monkeypatch):
    path = _settings_file(tmp_path, sim)
    secrets = "\n".join(SECRET_VALUES[name] for name in ("login_password", "api_key", "datasync_password"))
    output = run(
        "set",
        "--org",
        organization.slug,
        "--file",
        str(path),
        "--secret",
        "login_password",
        "--secret",
        "api_key",
        "--secret",
        "datasync_password",
        "--center-ids",
        "3, 4",
        stdin=secrets + "\n",
        monkeypatch=monkeypatch,
    )
    assert "Created the Convio Luminate integration" in output
    integration = Integration.objects.get(organization=organization)
    assert integration.api_key == SECRET_VALUES["api_key"] and integration.center_ids == "3,4"
    assert integration.datasync_password == SECRET_VALUES["datasync_password"]
    entries = integration.audit_entries.all()
    assert {entry.actor_label.split(" ")[0] for entry in entries} == {"command"}
    assert SECRET_VALUES["api_key"] not in "".join(str(e.changes) for e in entries)
    for value in SECRET_VALUES.values():
        assert value not in output


def test_secrets_from_the_settings_file_are_stored_never_printed_and_audited_hidden(
    organization, sim, tmp_path
):
    path = _settings_file(tmp_path, sim, api_key=SECRET_VALUES["api_key"])
    output = run("set", "--org", organization.slug, "--file", str(path))
    integration = Integration.objects.get(organization=organization)
    assert integration.api_key == SECRET_VALUES["api_key"]
    assert "api_key" in output and SECRET_VALUES["api_key"] not in output
    entry = integration.audit_entries.get(action=AuditEntry.Action.SETTINGS)
    assert entry.changes["api_key"] == [None, services.HIDDEN]
    assert SECRET_VALUES["api_key"] not in run("show", "--org", organization.slug, "--json")


def test_secrets_on_the_command_line_are_refused(organization):
    with pytest.raises(CommandError, match="secrets are never taken on the command line") as caught:
        run("set", "--org", organization.slug, "--api-key", SECRET_VALUES["api_key"])
    assert SECRET_VALUES["api_key"] not in str(caught.value)
    assert not Integration.objects.filter(organization=organization).exists()


def test_invalid_values_name_the_field(organization, integration):
    with pytest.raises(CommandError) as caught:
        run(
            "set",
            "--org",
            organization.slug,
            "--api-host",
            "https://secure2.convio.net",
            "--opt-in-field",
            "Mobile Opt-in",
        )
    message = str(caught.value)
    assert "API host name (api_host): 'https://secure2.convio.net' includes a scheme" in message
    assert (
        "Mobile opt-in Boolean field name (opt_in_field): 'Mobile Opt-in' is not a Luminate field name"
        in message
    )
    integration.refresh_from_db()
    assert integration.api_host == ""


@pytest.mark.parametrize(
    ("value", "stored"), [("no", False), ("0", False), ("off", False), ("yes", True), ("on", True)]
)
def test_near_real_time_takes_yes_or_no(organization, integration, value, stored):
    Integration.objects.filter(pk=integration.pk).update(near_real_time=not stored)
    run("set", "--org", organization.slug, "--near-real-time", value)
    integration.refresh_from_db()
    assert integration.near_real_time is stored


def test_a_checkbox_setting_refuses_what_is_neither_yes_nor_no(organization, integration):
    with pytest.raises(CommandError, match="near_real_time: expected yes or no, not 'maybe'"):
        run("set", "--org", organization.slug, "--near-real-time", "maybe")


def test_renaming_the_opt_in_field_needs_the_confirmation_flag(organization, integration):
    with pytest.raises(CommandError, match="You renamed Mobile opt-in Boolean field name"):
        run("set", "--org", organization.slug, "--opt-in-field", "custom_boolean12")
    integration.refresh_from_db()
    assert integration.opt_in_field == "custom_boolean50"
    run("set", "--org", organization.slug, "--opt-in-field", "custom_boolean12", "--confirm-rename")
    integration.refresh_from_db()
    assert integration.opt_in_field == "custom_boolean12"


def test_clear_secret_removes_a_stored_secret(organization, configured):
    assert configured.site_admin_password
    output = run("set", "--org", organization.slug, "--clear-secret", "site_admin_password")
    assert "Changed: site_admin_password" in output
    configured.refresh_from_db()
    assert configured.site_admin_password == "" and configured.api_key == SECRET_VALUES["api_key"]
    assert "site_admin_password: not set" in run("show", "--org", organization.slug)


def test_the_api_key_cannot_be_cleared_while_active(organization, configured):
    Integration.objects.filter(pk=configured.pk).update(active=True)
    with pytest.raises(CommandError, match="The API key cannot be cleared while the integration is active"):
        run("set", "--org", organization.slug, "--clear-secret", "api_key")
    configured.refresh_from_db()
    assert configured.api_key == SECRET_VALUES["api_key"]


def test_changing_checked_settings_of_an_active_sync_warns(organization, configured):
    Integration.objects.filter(pk=configured.pk).update(
        active=True, last_test_passed=True, tested_config_version=F("config_version")
    )
    quiet, warned = io.StringIO(), io.StringIO()
    run("set", "--org", organization.slug, "--notes", "not checked", stderr=quiet)
    run("set", "--org", organization.slug, "--organization-code", "otherorg", stderr=warned)
    assert quiet.getvalue() == ""
    assert warned.getvalue().strip() == "Warning: " + services.UNTESTED_WHILE_ACTIVE


def test_liberal_needs_the_confirmation_flag(organization, integration):
    with pytest.raises(CommandError, match="SMS consent"):
        run("set", "--org", organization.slug, "--sync-type", "liberal")
    run("set", "--org", organization.slug, "--sync-type", "liberal", "--confirm-sms-consent")
    assert integration.audit_entries.filter(action=AuditEntry.Action.LIBERAL_CONFIRMED).exists()


def test_mappings_and_group_paths_from_a_json_file(organization, configured, sim, tmp_path, web_path):
    path = tmp_path / "mappings.json"
    path.write_text(
        json.dumps(
            {
                "mappings": {"address_city": {"api_field_name": "primary_address.city", "required": True}},
                "group_paths": [{"group_id": "1002", "opt_in_path": web_path.name}],
            }
        )
    )
    output = run("set", "--org", organization.slug, "--file", str(path))
    assert "City: required" in output and "Group opt-in paths saved." in output
    assert configured.field_mappings.get(field="address_city").required
    assert list(configured.group_paths.values_list("group_id", "group_name")) == [("1002", "Volunteers")]
    path.write_text(json.dumps({"mappings": {"profile_email": {"required": True}}}))
    with pytest.raises(CommandError, match="Email cannot be marked Required"):
        run("set", "--org", organization.slug, "--file", str(path))
    path.write_text(json.dumps({"mappings": {"phone_number": {"api_field_name": "cell_phone"}}}))
    with pytest.raises(CommandError, match="You renamed Phone number"):
        run("set", "--org", organization.slug, "--file", str(path))


def test_show_test_activate_deactivate(organization, configured):
    shown = run("show", "--org", organization.slug)
    assert "api_key: set" in shown and "site_admin_password: set" in shown
    for value in SECRET_VALUES.values():
        assert value not in shown
    data = json.loads(run("show", "--org", organization.slug, "--json"))
    assert data["settings"]["login_password"] == "set"
    assert data["state"]["api_ip_filter_block"] == ["203.0.113.7/32", "203.0.113.8/32"]
    with pytest.raises(CommandError, match="Run Test Connection first"):
        run("activate", "--org", organization.slug, "--initial-load", "no", "--send-earlier-opt-ins", "no")
    tested = run("test", "--org", organization.slug)
    assert tested.count("[passed]") == 9 and "Test Connection passed." in tested
    with pytest.raises(CommandError, match=re.escape("needs --initial-load yes|no")):
        run("activate", "--org", organization.slug)
    activated = run(
        "activate", "--org", organization.slug, "--initial-load", "yes", "--send-earlier-opt-ins", "no"
    )
    assert "Active. The first sync runs" in activated
    assert "Inactive" in run("deactivate", "--org", organization.slug)
    configured.refresh_from_db()
    assert configured.initial_load_requested and not configured.active


def test_a_failing_test_exits_with_status_one(organization, configured, monkeypatch):
    run("set", "--org", organization.slug, "--secret", "api_key", stdin="wrong\n", monkeypatch=monkeypatch)
    with pytest.raises(CommandError) as caught:
        run("test", "--org", organization.slug)
    assert caught.value.returncode == 1


def test_as_must_be_an_administrator_of_the_organization(
    organization, other_organization, make_user, integration
):
    outsider = make_user(other_organization)
    with pytest.raises(CommandError, match="is not an Administrator"):
        run("set", "--org", organization.slug, "--as", outsider.username, "--notes", "hello")
    admin = make_user(organization, username="rivers-admin")
    run("set", "--org", organization.slug, "--as", admin.username, "--notes", "hello")
    assert integration.audit_entries.filter(actor=admin, actor_label="rivers-admin (command line)").exists()


def test_plain_http_is_refused_when_the_operator_does_not_allow_it(organization, integration, settings):
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = False
    with pytest.raises(CommandError, match="does not allow plain http"):
        run("set", "--org", organization.slug, "--allow-plain-http", "yes")


# --- lumisync sync ------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_sync_refuses_an_inactive_integration_unless_forced(organization, configured):
    for direction in ("inbound", "outbound"):
        with pytest.raises(CommandError, match="is inactive: activate it first"):
            sync(direction, "--org", organization.slug)
    assert not SyncRun.objects.exists()

    preview = sync("inbound", "--org", organization.slug, "--dry-run")
    assert "(preview: nothing written)" in preview and not Profile.objects.exists()
    with pytest.raises(CommandError, match="never activated"):
        sync("outbound", "--org", organization.slug, "--force")

    forced = sync("inbound", "--org", organization.slug, "--force")

    assert "Luminate → platform, Succeeded" in forced and Profile.objects.exists()


@pytest.mark.django_db
def test_sync_outbound_shows_a_progress_bar_on_a_terminal(
    organization, configured, actor, web_path, monkeypatch
):
    Integration.objects.filter(pk=configured.pk).update(
        last_test_passed=True, tested_config_version=F("config_version"), default_opt_in_path=web_path
    )
    services.activate(
        Integration.objects.get(pk=configured.pk), actor, initial_load=False, export_earlier_opt_ins=True
    )
    for n in range(3):
        profile, _ = subscriber_services.get_or_create_profile(
            organization, f"20255506{n:02d}", channel=Channel.WEB, email=f"bar{n}@example.org"
        )
        subscriber_services.opt_in(profile, web_path, channel=Channel.WEB)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)

    summary = sync("outbound", "--org", organization.slug)

    assert "3/3" in terminal.getvalue() and "s left" in terminal.getvalue()
    assert "Platform → Luminate, Succeeded" in summary and "Created" in summary
