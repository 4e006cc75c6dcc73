"""The Data Sync home page and audit log as an Administrator reads them.

Changes are listed by the configuration form's labels with readable values, in the organization's time
zone, never with internal field names or secret values; the home page names the campaigns that are synced.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from datasync_testing import SECRET_VALUES, post_settings
from django.db.models import F

from lumisync.datasync import services
from lumisync.datasync.models import Integration, SyncType
from lumisync.subscribers.models import Campaign, OptInPath

# 16:00 UTC is noon in New York (EDT), the organization's zone.
CHANGED_AT = datetime(2026, 7, 4, 16, 0, tzinfo=UTC)


@pytest.fixture
def volunteer_path(organization):
    campaign = Campaign.objects.create(organization=organization, name="Volunteers")
    return OptInPath.objects.create(organization=organization, campaign=campaign, name="Volunteer texts")


@pytest.fixture
def changed(integration, actor, web_path):
    with time_machine.travel(CHANGED_AT, tick=False):
        services.apply_settings(
            integration,
            {
                "login_name": "rivers-api",
                "login_password": SECRET_VALUES["login_password"],
                "api_key": SECRET_VALUES["api_key"],
                "datasync_password": SECRET_VALUES["datasync_password"],
                "allow_plain_http": True,
                "sync_type": SyncType.LIBERAL,
                "csv_delimiter": "\t",
                "default_opt_in_path": web_path,
            },
            actor,
            sms_consent_confirmed=True,
        )
    return integration


def audit_table(page: str) -> str:
    return page.split('<table class="audit">')[1].split("</table>")[0]


READABLE_ROWS = (
    "<strong>Login</strong>: — → rivers-api",
    "<strong>Password</strong>: — → (secret)",
    "<strong>API key</strong>: — → (secret)",
    "<strong>Data Sync password</strong>: — → (secret)",
    "<strong>Allow plain http</strong>: No → Yes",
    "<strong>Sync type</strong>: Conservative (only records whose Luminate opt-in is true) → "
    "Liberal (both directions, whatever the Luminate opt-in status)",
    "<strong>CSV delimiter</strong>: Detect from the header row → Tab",
    "<strong>Default web opt-in path</strong>: — → Luminate sign-ups (River Alerts)",
)
INTERNAL_NAMES = (
    "login_name",
    "login_password",
    "api_key",
    "datasync_password",
    "allow_plain_http",
    "sync_type",
    "csv_delimiter",
    "default_opt_in_path",
    "True",
    "False",
    "conservative",
    "liberal",
)


@pytest.mark.parametrize("url", ["/datasync/audit/", "/datasync/"])
def test_audit_entries_read_as_the_form_labels_them(admin_client, changed, url):
    page = admin_client.get(url).content.decode()
    table = audit_table(page)
    for row in READABLE_ROWS:
        assert row in table, row
    for name in INTERNAL_NAMES:
        assert name not in table, name
    for value in SECRET_VALUES.values():
        assert value not in page
    assert "2026-07-04 12:00:00 EDT" in table
    assert "Confirmed SMS consent for Liberal sync" in table


@pytest.fixture
def tested(integration):
    """The integration as a passing Test Connection at ``CHANGED_AT`` leaves it.

    Test Connection itself is covered against the simulator elsewhere; only its result matters here.
    """
    Integration.objects.filter(pk=integration.pk).update(
        last_test_passed=True, last_test_at=CHANGED_AT, tested_config_version=F("config_version")
    )
    integration.refresh_from_db()
    return integration


def test_activation_is_audited_with_readable_answers(admin_client, tested, actor):
    services.activate(tested, actor, initial_load=True, export_earlier_opt_ins=False)
    services.deactivate(tested, actor)
    table = audit_table(admin_client.get("/datasync/audit/").content.decode())
    for row in (
        "<strong>Active</strong>: No → Yes",
        "<strong>Initial load</strong>: — → Yes",
        "<strong>Send earlier opt-ins</strong>: — → No",
        "<strong>Earlier opt-ins at activation</strong>: — → 0",
        "<strong>Active</strong>: Yes → No",
    ):
        assert row in table, row
    assert "initial load" not in table and "True" not in table


def test_home_shows_its_times_in_the_organizations_zone(admin_client, organization, tested, actor):
    organization.time_zone = "America/Los_Angeles"
    organization.save()
    with time_machine.travel(CHANGED_AT, tick=False):
        services.activate(tested, actor, initial_load=False, export_earlier_opt_ins=False)
        page = admin_client.get("/datasync/").content.decode()
    # 16:00 UTC is 09:00 in Los Angeles, so the next overnight window opens on the following night.
    assert 'id="next-run">Sunday 5 July 2026 at 01:00 (PDT)<' in page
    assert "passed · 2026-07-04 09:00 PDT" in page
    table = audit_table(page)
    assert '<td class="nowrap">2026-07-04 09:00:00 PDT</td>' in table
    assert "first inbound sync Sunday 5 July 2026 at 01:00 (PDT)." in table
    assert "16:00" not in page


def test_activating_inside_the_overnight_window_says_the_run_starts_now(admin_client, tested):
    # 06:00 UTC is 02:00 in New York: the 01:00-05:00 window is open and has had no run, so the scheduler
    # starts one at its next tick.
    with time_machine.travel(datetime(2026, 7, 5, 6, 0, tzinfo=UTC), tick=False):
        activate_page = admin_client.get("/datasync/activate/").content.decode()
        response = admin_client.post(
            "/datasync/activate/", {"initial_load": "no", "export_earlier_opt_ins": "no"}, follow=True
        )
    now = "within a minute, as the overnight window is open now (Sunday 5 July 2026 at 02:00 (EDT))"
    assert f'id="first-run">{now}<' in activate_page
    page = response.content.decode()
    assert f"Integration active. The first sync runs {now}." in page
    assert f'id="next-run">{now}<' in page
    assert f"first inbound sync {now}." in audit_table(page)


def test_a_settings_save_through_the_page_is_audited_by_label(admin_client, integration):
    response = post_settings(
        admin_client,
        integration,
        login_name="rivers-api",
        api_key=SECRET_VALUES["api_key"],
        expect_manifest="on",
    )
    assert response.status_code == 302
    table = audit_table(admin_client.get("/datasync/").content.decode())
    assert "<strong>Login</strong>: — → rivers-api" in table
    assert "<strong>API key</strong>: — → (secret)" in table
    assert "<strong>Expect a manifest file</strong>: No → Yes" in table
    assert "expect_manifest" not in table and SECRET_VALUES["api_key"] not in table


def synced_campaigns(page: str) -> str:
    return page.split('id="synced-campaigns">')[1].split("<br>")[0].strip()


def campaign_link(campaign) -> str:
    return f'<a href="/subscribers/campaigns/{campaign.pk}/">{campaign.name}</a>'


def test_home_lists_the_campaigns_of_the_default_and_group_paths(
    admin_client, integration, actor, web_path, volunteer_path, organization, other_organization
):
    Campaign.objects.create(organization=organization, name="Newsletter")
    Campaign.objects.create(organization=other_organization, name="Air Alerts")
    assert synced_campaigns(admin_client.get("/datasync/").content.decode()) == "every campaign"

    services.save_group_paths(
        integration, [services.GroupPath("1002", "Volunteers", volunteer_path.pk)], actor
    )
    assert synced_campaigns(admin_client.get("/datasync/").content.decode()) == campaign_link(
        volunteer_path.campaign
    )

    services.apply_settings(integration, {"default_opt_in_path": web_path}, actor)
    shown = synced_campaigns(admin_client.get("/datasync/").content.decode())
    assert shown == f"{campaign_link(web_path.campaign)}, {campaign_link(volunteer_path.campaign)}"
    assert "Newsletter" not in shown and "Air Alerts" not in shown


def test_another_organizations_home_shows_nothing_of_ours(
    client, make_user, other_organization, changed, web_path
):
    client.force_login(make_user(other_organization))
    client.post("/datasync/", {"integration_type": "luminate"})
    page = client.get("/datasync/").content.decode()
    assert "rivers-api" not in page and "River Alerts" not in page
    assert synced_campaigns(page) == "every campaign"
    assert audit_table(page).count('<td class="nowrap">') == 1


def test_another_organizations_group_paths_page_is_not_found(
    client, make_user, other_organization, integration, actor, web_path
):
    services.save_group_paths(integration, [services.GroupPath("1002", "Volunteers", web_path.pk)], actor)
    client.force_login(make_user(other_organization))
    assert client.get("/datasync/group-paths/").status_code == 404
    data = {
        "paths-TOTAL_FORMS": "1",
        "paths-INITIAL_FORMS": "0",
        "paths-0-group": "",
        "paths-0-opt_in_path": "",
    }
    assert client.post("/datasync/group-paths/", data).status_code == 404
    assert list(integration.group_paths.values_list("group_id", "opt_in_path")) == [("1002", web_path.pk)]


def test_a_group_cannot_be_routed_to_another_organizations_path(
    admin_client, integration, actor, web_path, other_organization
):
    services.save_group_paths(integration, [services.GroupPath("1002", "Volunteers", web_path.pk)], actor)
    foreign_campaign = Campaign.objects.create(organization=other_organization, name="Air Alerts")
    foreign = OptInPath.objects.create(
        organization=other_organization, campaign=foreign_campaign, name="Air web"
    )
    data = {
        "paths-TOTAL_FORMS": "1",
        "paths-INITIAL_FORMS": "1",
        "paths-0-group": "1002",
        "paths-0-opt_in_path": str(foreign.pk),
        "paths-0-ORDER": "1",
    }
    response = admin_client.post("/datasync/group-paths/", data)
    assert response.status_code == 200
    assert "Air web" not in response.content.decode()
    assert list(integration.group_paths.values_list("opt_in_path", flat=True)) == [web_path.pk]


def test_a_refused_group_path_names_the_value(admin_client, integration, actor, web_path):
    services.save_group_paths(integration, [services.GroupPath("1002", "Volunteers", web_path.pk)], actor)
    data = {
        "paths-TOTAL_FORMS": "1",
        "paths-INITIAL_FORMS": "1",
        "paths-0-group": "1002",
        "paths-0-opt_in_path": "987654",
        "paths-0-ORDER": "1",
    }
    page = admin_client.post("/datasync/group-paths/", data).content.decode()
    errors = re.findall(r'<p class="error">([^<]*)</p>', page)
    assert any("&#x27;987654&#x27;" in error for error in errors), errors
    assert "Choose both a group and an opt-in path, or neither." not in errors


def test_a_bad_organization_code_is_refused_naming_field_and_value(admin_client, integration):
    response = post_settings(admin_client, integration, organization_code="rivers org!")
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "Organization code</a>: &#x27;rivers org!&#x27; is not an organization code: use only letters, "
        "digits, &#x27;-&#x27; and &#x27;_&#x27;"
    ) in page
    integration.refresh_from_db()
    assert integration.organization_code == ""


def test_another_organizations_path_cannot_be_the_default(admin_client, integration, other_organization):
    foreign_campaign = Campaign.objects.create(organization=other_organization, name="Air Alerts")
    foreign = OptInPath.objects.create(
        organization=other_organization, campaign=foreign_campaign, name="Air web"
    )
    response = post_settings(admin_client, integration, default_opt_in_path=foreign.pk)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Default web opt-in path</a>:" in page
    assert "Air web" not in page
    integration.refresh_from_db()
    assert integration.default_opt_in_path is None


def test_a_refused_default_path_names_the_value(admin_client, integration):
    page = post_settings(admin_client, integration, default_opt_in_path="987654").content.decode()
    assert "Default web opt-in path</a>:" in page and "987654" in page
