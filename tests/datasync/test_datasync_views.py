"""The Data Sync pages: Administrators only, one organization's integration only, secrets never shown."""

from __future__ import annotations

import logging

from datasync_testing import SECRET_VALUES, post_settings, simulator_settings
from django.db.models import F

from lumisync.accounts.models import Role
from lumisync.datasync import services
from lumisync.datasync.forms import CREDENTIALS_IN_URL
from lumisync.datasync.models import AuditEntry, Integration, SyncType
from lumisync.subscribers.models import OptInPath

PAGES = (
    "/datasync/",
    "/datasync/configure/",
    "/datasync/mappings/",
    "/datasync/group-paths/",
    "/datasync/test/",
    "/datasync/activate/",
    "/datasync/audit/",
    "/datasync/report/",
)


def actions_panel(page: str) -> str:
    return page.split('<aside class="card datasync-actions"')[1].split("</aside>")[0]


def _mapping_data(integration, **changes) -> dict:
    """The Edit Field Mappings form as the page would post it, with ``changes`` on top."""
    data = {}
    for mapping in integration.field_mappings.all():
        data[f"{mapping.field}-api"] = mapping.api_name
        data[f"{mapping.field}-csv"] = mapping.csv_heading
        if mapping.required:
            data[f"{mapping.field}-required"] = "on"
    data.update(changes)
    return data


def _running(integration) -> None:
    """Active, on settings a passing Test Connection checked (the test itself is covered elsewhere)."""
    Integration.objects.filter(pk=integration.pk).update(
        active=True, last_test_passed=True, tested_config_version=F("config_version")
    )
    integration.refresh_from_db()


def test_signed_out_visitors_are_sent_to_sign_in(client, integration):
    response = client.get("/datasync/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_members_are_refused(client, make_user, organization, integration):
    client.force_login(make_user(organization, role=Role.STAFF))
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    for url in ("/datasync/configure/", "/datasync/test/", "/datasync/activate/", "/datasync/deactivate/"):
        assert client.post(url).status_code == 403, url
    integration.refresh_from_db()
    assert integration.last_test_at is None and not integration.active


def test_create_then_home_shows_actions_state_and_ip_block(admin_client, organization):
    page = admin_client.get("/datasync/")
    assert b"Convio Luminate" in page.content and b"Integration Type" in page.content
    response = admin_client.post("/datasync/", {"integration_type": "luminate"})
    assert response.status_code == 302 and response["Location"] == "/datasync/configure/"
    integration = Integration.objects.get(organization=organization)
    assert integration.field_mappings.count() > 0
    home = admin_client.get("/datasync/").content.decode()
    panel = actions_panel(home)
    for action, url in (
        ("Configure Integration", "/datasync/configure/"),
        ("Edit Field Mappings", "/datasync/mappings/"),
        ("Group Opt-in Paths", "/datasync/group-paths/"),
        ("Test Connection", "/datasync/test/"),
        ("Activate Integration", "/datasync/activate/"),
        ("Synchronization Report", "/datasync/report/"),
        ("Donation Form Snippet", "/datasync/donation-snippet/"),
    ):
        assert f'href="{url}"' in panel and f">{action}</a>" in panel, action
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
        assert f'<summary aria-label="Help: {label}">Help</summary>' in page, label
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
    refused = post_settings(admin_client, integration, sync_type="liberal")
    assert refused.status_code == 200
    assert (
        "Liberal sync texts every mobile number in Luminate, whatever its opt-in status: tick this box"
        in (refused.content.decode())
    )
    integration.refresh_from_db()
    assert integration.sync_type == SyncType.CONSERVATIVE
    assert (
        post_settings(admin_client, integration, sync_type="liberal", confirm_sms_consent="on").status_code
        == 302
    )
    entry = integration.audit_entries.get(action=AuditEntry.Action.LIBERAL_CONFIRMED)
    assert entry.actor == admin_user


def test_a_login_typed_into_the_export_url_never_reaches_a_page_or_the_audit(admin_client, integration):
    typed = "TopSecretPw"
    response = post_settings(
        admin_client, integration, export_url=f"ftps://rivers:{typed}@customerftp.convio.net/export/"
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Do not put a user name or password in the URL" in page
    assert typed not in page
    response = post_settings(admin_client, integration, api_host=f"rivers:{typed}@secure2.convio.net")
    assert response.status_code == 200 and typed not in response.content.decode()
    integration.refresh_from_db()
    assert integration.export_url == "" and integration.api_host == ""
    for url in PAGES:
        assert typed not in admin_client.get(url).content.decode(), url
    assert not integration.audit_entries.filter(action=AuditEntry.Action.SETTINGS).exists()
    assert CREDENTIALS_IN_URL.startswith("Do not put a user name or password")


def test_renaming_the_opt_in_field_on_the_configuration_page_asks_first(admin_client, integration):
    response = post_settings(admin_client, integration, opt_in_field="custom_boolean12")
    page = response.content.decode()
    assert response.status_code == 200
    assert "You renamed Mobile opt-in Boolean field name from &#x27;custom_boolean50&#x27;" in page
    assert 'id="id_confirm_rename"' in page
    integration.refresh_from_db()
    assert integration.opt_in_field == "custom_boolean50"
    assert (
        post_settings(
            admin_client, integration, opt_in_field="custom_boolean12", confirm_rename="on"
        ).status_code
        == 302
    )
    integration.refresh_from_db()
    assert integration.opt_in_field == "custom_boolean12"
    # One setting: the mapping page's Opt-in status row shows the new name.
    assert 'value="custom_boolean12"' in admin_client.get("/datasync/mappings/").content.decode()


def test_saving_checked_settings_of_an_active_sync_warns(admin_client, integration):
    _running(integration)
    response = post_settings(admin_client, integration, notes="not a checked setting")
    page = admin_client.get(response["Location"]).content.decode()
    assert "Settings saved." in page and services.UNTESTED_WHILE_ACTIVE not in page
    assert 'id="untested-warning"' not in page
    response = post_settings(admin_client, integration, api_host="secure3.convio.net")
    page = admin_client.get(response["Location"]).content.decode()
    assert services.UNTESTED_WHILE_ACTIVE in page and 'class="message warning"' in page
    assert 'id="untested-warning"' in page
    # The sync is not stopped: deactivating is the Administrator's call.
    integration.refresh_from_db()
    assert integration.active and not integration.test_is_current


def test_renaming_a_mapping_of_an_active_sync_warns(admin_client, integration):
    _running(integration)
    data = _mapping_data(integration, **{"address_city-api": "home_city"})
    page = admin_client.post("/datasync/mappings/", data, follow=True).content.decode()
    assert "Field mappings saved." in page and services.UNTESTED_WHILE_ACTIVE in page
    integration.refresh_from_db()
    assert integration.active


def test_a_deactivated_default_path_survives_an_unrelated_save(admin_client, integration, actor, web_path):
    services.apply_settings(integration, {"default_opt_in_path": web_path}, actor)
    OptInPath.objects.filter(pk=web_path.pk).update(active=False)
    integration.refresh_from_db()
    page = admin_client.get("/datasync/configure/").content.decode()
    assert "Luminate sign-ups (River Alerts) (inactive)</option>" in page
    assert post_settings(admin_client, integration, notes="only the notes").status_code == 302
    integration.refresh_from_db()
    assert integration.default_opt_in_path == web_path


def test_a_stored_secret_can_be_cleared_from_the_page(admin_client, integration, actor):
    services.apply_settings(integration, dict(SECRET_VALUES), actor)
    page = admin_client.get("/datasync/configure/").content.decode()
    assert 'id="id_site_admin_password_state">set<' in page
    assert 'aria-label="Clear Site Admin password"' in page
    response = post_settings(admin_client, integration, clear_site_admin_password="on")
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.site_admin_password == "" and integration.api_key == SECRET_VALUES["api_key"]
    page = admin_client.get("/datasync/configure/").content.decode()
    assert 'id="id_site_admin_password_state">not set<' in page
    assert 'aria-label="Clear Site Admin password"' not in page
    assert (
        "<strong>Site Admin password</strong>: (secret) → —"
        in admin_client.get("/datasync/").content.decode()
    )


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


def test_group_paths_without_api_settings_say_what_to_enter(admin_client, integration):
    page = admin_client.get("/datasync/group-paths/").content.decode()
    assert "Luminate's group list could not be read" in page
    assert "The API settings are not complete: enter the API host name, Login, Password and API key" in page


def test_group_paths_name_the_reason_listgroups_failed(admin_client, configured, actor):
    services.apply_settings(configured, {"api_key": "not-the-key"}, actor)
    page = admin_client.get("/datasync/group-paths/").content.decode()
    assert "Luminate's group list could not be read" in page
    assert "API key" in page.split("could not be read")[1].split("</div>")[0]
    assert "not-the-key" not in page


def test_a_group_path_deactivated_since_stays_on_its_row(admin_client, integration, actor, web_path):
    services.save_group_paths(integration, [services.GroupPath("1002", "Volunteers", web_path.pk)], actor)
    OptInPath.objects.filter(pk=web_path.pk).update(active=False)
    page = admin_client.get("/datasync/group-paths/").content.decode()
    assert (
        f'<option value="{web_path.pk}" selected>Luminate sign-ups (River Alerts) (inactive)</option>' in page
    )
    # Three empty rows after the stored one.
    assert 'name="paths-TOTAL_FORMS" value="4"' in page


def test_renaming_phone_asks_for_confirmation_and_test_connection_checks_the_new_name(
    admin_client, configured
):
    data = _mapping_data(configured, **{"phone_number-api": "cell_phone"})
    refused = admin_client.post("/datasync/mappings/", data)
    assert refused.status_code == 200
    assert "You renamed Phone number from &#x27;mobile_phone&#x27; to &#x27;cell_phone&#x27;" in (
        refused.content.decode()
    )
    assert configured.field_mappings.get(field="phone_number").api_field_name == "mobile_phone"
    data["confirm_rename"] = "on"
    assert admin_client.post("/datasync/mappings/", data).status_code == 302
    assert configured.field_mappings.get(field="phone_number").api_field_name == "cell_phone"
    admin_client.post("/datasync/test/")
    page = admin_client.get("/datasync/test/").content.decode()
    assert '<strong id="test-outcome">failed</strong>' in page
    mapped = page.split("Every mapped API field exists (listUserFields)")[1].split("</tr>")[0]
    assert "failed" in mapped and "cell_phone" in mapped


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
    assert 'id="earlier-opt-ins">0<' in activate_page and 'id="still-subscribed">0<' in activate_page
    assert "The first sync will run" in activate_page
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
