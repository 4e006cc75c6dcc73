"""The Data Sync pages: Administrators only, one organization's integration only, secrets never shown."""

from __future__ import annotations

import logging

from datasync_testing import SECRET_VALUES, post_settings, simulator_settings

from lumisync.accounts.models import Role
from lumisync.datasync import services
from lumisync.datasync.models import AuditEntry, Integration
from lumisync.subscribers.models import OptInPath


def test_signed_out_visitors_are_sent_to_sign_in(client, integration):
    response = client.get("/datasync/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_members_are_refused(client, make_user, organization, integration):
    client.force_login(make_user(organization, role=Role.STAFF))
    for url in ("/datasync/", "/datasync/configure/", "/datasync/mappings/", "/datasync/test/"):
        assert client.get(url).status_code == 403


def test_create_then_home_shows_actions_state_and_ip_block(admin_client, organization):
    page = admin_client.get("/datasync/")
    assert b"Convio Luminate" in page.content and b"Integration Type" in page.content
    response = admin_client.post("/datasync/", {"integration_type": "luminate"})
    assert response.status_code == 302 and response["Location"] == "/datasync/configure/"
    integration = Integration.objects.get(organization=organization)
    assert integration.field_mappings.count() > 0
    home = admin_client.get("/datasync/").content.decode()
    for action in (
        "Configure Integration",
        "Edit Field Mappings",
        "Group Opt-in Paths",
        "Test Connection",
        "Activate Integration",
        "Synchronization Report",
        "Donation Form Snippet",
    ):
        assert action in home
    assert 'id="integration-state">Inactive<' in home
    assert "203.0.113.7/32" in home and "203.0.113.8/32" in home


def test_configure_shows_every_field_with_help(admin_client, integration):
    page = admin_client.get("/datasync/configure/").content.decode()
    for label in (
        "Login",
        "Password",
        "Default web opt-in path",
        "URL of the nightly CSV export file",
        "File name pattern",
        "Organization code",
        "API key",
        "API host name",
        "Center IDs",
        "Source code",
        "No_Welcome",
        "Data Sync user name",
        "Data Sync password",
        "Site Admin user name",
        "Site Admin password",
        "Mobile opt-in Boolean field name",
        "Sync type",
        "Notes (internal use only)",
        "API concurrency",
        "API requests per second",
    ):
        assert f">{label}:</label>" in page, label
    assert page.count("<summary") >= 20
    assert 'value="mcommons"' in page


def test_saving_settings_never_shows_secrets_back(admin_client, integration, sim, caplog):
    caplog.set_level(logging.DEBUG)
    response = post_settings(admin_client, integration, **simulator_settings(sim))
    assert response.status_code == 302, response.content.decode()
    integration.refresh_from_db()
    assert integration.api_key == SECRET_VALUES["api_key"]
    sim.write_changed_file(mode="liberal")
    admin_client.post("/datasync/test/")
    # Saving again with the secrets left blank keeps them.
    assert post_settings(admin_client, integration, notes="second save").status_code == 302
    integration.refresh_from_db()
    assert integration.login_password == SECRET_VALUES["login_password"]
    pages = "".join(
        admin_client.get(url).content.decode()
        for url in (
            "/datasync/",
            "/datasync/configure/",
            "/datasync/test/",
            "/datasync/audit/",
            "/datasync/mappings/",
        )
    )
    assert pages.count('class="check passed"') == 9
    assert 'id="id_api_key_state">set<' in pages
    audit = [str(entry.changes) + entry.summary for entry in integration.audit_entries.all()]
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for value in SECRET_VALUES.values():
        assert value not in pages
        assert value not in "".join(audit)
        assert value not in logs


def test_invalid_settings_are_named_and_nothing_is_saved(admin_client, integration):
    response = post_settings(
        admin_client, integration, api_host="https://secure2.convio.net/", center_ids="1,x"
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in page
    assert "includes a scheme: enter only the host name" in page
    assert "&#x27;x&#x27; is not" in page
    integration.refresh_from_db()
    assert integration.api_host == ""


def test_liberal_confirmation_is_asked_and_audited(admin_client, integration, admin_user):
    page = post_settings(admin_client, integration, sync_type="liberal").content.decode()
    assert 'id="liberal-confirm"' in page and "holds SMS consent" in page
    assert (
        post_settings(admin_client, integration, sync_type="liberal", confirm_sms_consent="on").status_code
        == 302
    )
    entry = integration.audit_entries.get(action=AuditEntry.Action.LIBERAL_CONFIRMED)
    assert entry.actor == admin_user


def test_mappings_page_refuses_required_on_email_with_the_reason(admin_client, integration):
    page = admin_client.get("/datasync/mappings/").content.decode()
    assert "custom fields are not synced" in page
    assert 'value="mobile_phone"' in page and 'value="primary_address.street1"' in page
    data = {}
    for mapping in integration.field_mappings.all():
        data[f"{mapping.field}-api"] = mapping.api_name
        data[f"{mapping.field}-csv"] = mapping.csv_heading
    data["profile_email-required"] = "on"
    response = admin_client.post("/datasync/mappings/", data)
    assert response.status_code == 200
    assert "Email cannot be marked Required: an email must exist in both systems" in response.content.decode()
    assert not integration.field_mappings.get(field="profile_email").required
    data.pop("profile_email-required")
    data["address_city-required"] = "on"
    assert admin_client.post("/datasync/mappings/", data).status_code == 302
    assert integration.field_mappings.get(field="address_city").required


def test_group_paths_come_from_list_groups_in_order(admin_client, configured, sim, web_path, organization):
    other = OptInPath.objects.create(
        organization=organization, campaign=web_path.campaign, name="Volunteer texts"
    )
    page = admin_client.get("/datasync/group-paths/").content.decode()
    assert "Volunteers" in page and "Monthly Donors" in page
    data = {
        "paths-TOTAL_FORMS": "3",
        "paths-INITIAL_FORMS": "0",
        "paths-0-group": "1002",
        "paths-0-opt_in_path": str(other.pk),
        "paths-0-ORDER": "2",
        "paths-1-group": "1003",
        "paths-1-opt_in_path": str(web_path.pk),
        "paths-1-ORDER": "1",
        "paths-2-group": "",
        "paths-2-opt_in_path": "",
    }
    assert admin_client.post("/datasync/group-paths/", data).status_code == 302
    rows = list(configured.group_paths.values_list("group_id", "group_name", "opt_in_path"))
    assert rows == [("1003", "Monthly Donors", web_path.pk), ("1002", "Volunteers", other.pk)]
    entry = configured.audit_entries.get(action=AuditEntry.Action.GROUP_PATHS)
    assert entry.changes["group paths"] == [
        None,
        "Monthly Donors -> Luminate sign-ups; Volunteers -> Volunteer texts",
    ]


def test_test_activate_and_deactivate_pages(admin_client, configured):
    refused = admin_client.post("/datasync/activate/", {"initial_load": "no", "export_earlier_opt_ins": "no"})
    assert refused.status_code == 200 and "Run Test Connection first" in refused.content.decode()
    admin_client.post("/datasync/test/")
    page = admin_client.get("/datasync/test/").content.decode()
    assert page.count('class="check passed"') == 9
    activate_page = admin_client.get("/datasync/activate/").content.decode()
    assert 'id="earlier-opt-ins">0<' in activate_page and "The first sync will run" in activate_page
    response = admin_client.post(
        "/datasync/activate/", {"initial_load": "yes", "export_earlier_opt_ins": "no"}
    )
    assert response.status_code == 302
    home = admin_client.get("/datasync/").content.decode()
    assert 'id="integration-state">Active<' in home and 'id="next-run"' in home
    assert "Deactivate Integration" in home
    assert admin_client.post("/datasync/deactivate/").status_code == 302
    configured.refresh_from_db()
    assert not configured.active and configured.initial_load_requested
    # Reactivation asks nothing.
    assert "Reactivating picks up" in admin_client.get("/datasync/activate/").content.decode()
    assert admin_client.post("/datasync/activate/").status_code == 302
    configured.refresh_from_db()
    assert configured.active


def test_another_organizations_administrator_cannot_see_or_change_it(
    client, make_user, other_organization, integration, actor
):
    services.apply_settings(integration, {"api_host": "secure2.convio.net", "notes": "rivers only"}, actor)
    client.force_login(make_user(other_organization))
    page = client.get("/datasync/").content.decode()
    assert "secure2.convio.net" not in page and "Integration Type" in page
    for url in ("/datasync/configure/", "/datasync/mappings/", "/datasync/test/", "/datasync/audit/"):
        assert client.get(url).status_code == 404
    assert client.post("/datasync/configure/", {"api_host": "evil.example.org"}).status_code == 404
    assert (
        client.post("/datasync/activate/", {"initial_load": "no", "export_earlier_opt_ins": "no"}).status_code
        == 404
    )
    assert client.post("/datasync/deactivate/").status_code == 404
    # Creating their own integration leaves ours alone.
    client.post("/datasync/", {"integration_type": "luminate"})
    integration.refresh_from_db()
    assert integration.api_host == "secure2.convio.net" and integration.notes == "rivers only"
    assert Integration.objects.get(organization=other_organization).api_host == ""
