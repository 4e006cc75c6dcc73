"""Data Sync set-up in a real browser, against the simulator over real HTTP and FTP.

Creates the integration, configures it, passes Test Connection, edits a mapping (and is refused Required?
on Email; renames Phone number, which asks for confirmation and which Test Connection then checks),
activates and deactivates, with a screenshot of each screen.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lumisync.datasync.models import AuditEntry, Integration
from lumisync.simulator import SimulatorConfig, running_simulator
from lumisync.subscribers.models import Campaign, OptInPath

pytestmark = pytest.mark.browser

API_PASSWORD = "Api-Pass-e2e-41c7"
API_KEY = "Key-e2e-9d20"
FTP_PASSWORD = "Ftp-Pass-e2e-77ab"
# The next overnight window's start in New York, or, when the test runs inside that window, now.
NEXT_RUN = re.compile(
    r"(within a minute, as the overnight window is open now \(.* at \d\d:\d\d \(E[SD]T\)\)"
    r"|\w+day \d+ \w+ \d{4} at 01:00 \(E[SD]T\))"
)


@pytest.fixture
def sim(settings):
    # The simulator listens on 127.0.0.1 over plain http: an operator would allow this only for a test site.
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = True
    settings.LUMISYNC_API_IP_ADDRESSES = ["203.0.113.7"]
    config = SimulatorConfig(
        constituents=30, ftp=True, api_key=API_KEY, login_password=API_PASSWORD, ftp_password=FTP_PASSWORD
    )
    with running_simulator(config) as simulator:
        simulator.write_changed_file(mode="liberal")
        yield simulator


def _no_secrets(page):
    html = page.content()
    for secret in (API_PASSWORD, API_KEY, FTP_PASSWORD):
        assert secret not in html


def test_configure_test_map_activate_deactivate(
    browser_page, sign_in, screenshot, admin_user, organization, sim
):
    campaign = Campaign.objects.create(organization=organization, name="River Alerts")
    OptInPath.objects.create(organization=organization, campaign=campaign, name="Luminate sign-ups")
    page = browser_page
    sign_in(page, admin_user)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Data Sync").click()
    expect(page).to_have_url("/datasync/")
    page.get_by_label("Integration Type").select_option(label="Convio Luminate")
    screenshot(page, "1-create")
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Configure Integration")
    expect(page.locator("#integration-state")).to_have_text("Inactive")
    page.locator("#id_login_name").fill(sim.login_name)
    page.locator("#id_login_password").fill(API_PASSWORD)
    page.locator("#id_default_opt_in_path").select_option(label="Luminate sign-ups (River Alerts)")
    page.locator("#id_export_url").fill(sim.ftp_url)
    page.locator("#id_file_name_pattern").fill("{org}_changed_constituents_{YYYYMMDD}.csv")
    page.locator("#id_organization_code").fill(sim.org)
    page.locator("#id_api_key").fill(API_KEY)
    page.locator("#id_api_host").fill("http://" + sim.host)
    page.locator("#id_datasync_username").fill(sim.ftp_user)
    page.locator("#id_datasync_password").fill(FTP_PASSWORD)
    page.locator("summary", has_text="Advanced").click()
    page.locator("#id_allow_plain_http").check()
    page.get_by_role("button", name="Update").click()
    # A scheme in the host is refused with the fix; the typed secrets are not sent back.
    expect(page.locator(".form-errors")).to_contain_text("includes a scheme: enter only the host name")
    _no_secrets(page)
    page.locator("summary", has_text="Help").first.click()
    screenshot(page, "2-configure-error")
    page.locator("#id_api_host").fill(sim.host)
    for field, secret in (
        ("login_password", API_PASSWORD),
        ("api_key", API_KEY),
        ("datasync_password", FTP_PASSWORD),
    ):
        page.locator(f"#id_{field}").fill(secret)
    page.locator("summary", has_text="Advanced").click()
    page.get_by_role("button", name="Update").click()
    expect(page.locator(".messages")).to_contain_text("Settings saved.")
    page.get_by_role("link", name="Configure Integration").click()
    expect(page.locator("#id_api_key_state")).to_have_text("set")
    _no_secrets(page)
    screenshot(page, "3-configure-saved")

    page.get_by_role("link", name="Test Connection").click()
    page.get_by_role("button", name="Run Test Connection").click()
    expect(page.locator("#test-outcome")).to_have_text("passed")
    expect(page.locator("tr.check.passed")).to_have_count(9)
    screenshot(page, "4-test-connection")

    page.get_by_role("link", name="Edit Field Mappings").click()
    expect(page.locator("#mappings-form")).to_be_visible()
    expect(page.get_by_text("custom fields are not synced")).to_be_visible()
    page.locator("#id_profile_email-required").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#row-profile_email .error")).to_contain_text("Email cannot be marked Required")
    screenshot(page, "5-mappings-refused")
    page.locator("#id_profile_email-required").uncheck()
    page.locator("#id_profile_first_name-required").check()
    page.locator("#id_phone_number-api").fill("cell_phone")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".form-errors")).to_contain_text(
        "You renamed Phone number from 'mobile_phone' to 'cell_phone'"
    )
    screenshot(page, "6-mappings-rename-asked")
    page.locator("#id_confirm_rename").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Field mappings saved.")
    expect(page.locator("#id_profile_first_name-required")).to_be_checked()
    expect(page.locator("#id_phone_number-api")).to_have_value("cell_phone")
    screenshot(page, "6-mappings-saved")

    # Test Connection checks the new name, which this Luminate site does not have.
    page.get_by_role("link", name="Test Connection").click()
    page.get_by_role("button", name="Run Test Connection").click()
    expect(page.locator("#test-outcome")).to_have_text("failed")
    mapped = page.locator("tr.check", has_text="Every mapped API field exists")
    expect(mapped).to_have_class(re.compile(r"\bfailed\b"))
    expect(mapped).to_contain_text("cell_phone")
    screenshot(page, "6-test-checks-the-new-name")
    page.get_by_role("link", name="Edit Field Mappings").click()
    page.locator("#id_phone_number-api").fill("mobile_phone")
    page.locator("#id_confirm_rename").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Field mappings saved.")
    page.get_by_role("link", name="Test Connection").click()
    page.get_by_role("button", name="Run Test Connection").click()
    expect(page.locator("#test-outcome")).to_have_text("passed")

    page.get_by_role("link", name="Group Opt-in Paths").click()
    page.locator("#id_paths-0-group").select_option(label="Volunteers")
    page.locator("#id_paths-0-opt_in_path").select_option(label="Luminate sign-ups (River Alerts)")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Group opt-in paths saved.")
    expect(page.locator("#id_paths-0-group")).to_have_value("1002")
    screenshot(page, "7-group-paths")

    page.get_by_role("link", name="Activate Integration").click()
    expect(page.locator("#earlier-opt-ins")).to_have_text("0")
    expect(page.locator("#first-run")).to_have_text(NEXT_RUN)
    page.locator("#id_initial_load_1").check()
    page.locator("#id_export_earlier_opt_ins_1").check()
    screenshot(page, "8-activate")
    page.get_by_role("button", name="Activate Integration").click()
    expect(page.locator("#integration-state")).to_have_text("Active")
    expect(page.locator(".messages")).to_contain_text("The first sync runs")
    expect(page.locator("#next-run")).to_have_text(NEXT_RUN)
    screenshot(page, "9-active")

    page.get_by_role("button", name="Deactivate Integration").click()
    expect(page.locator("#integration-state")).to_have_text("Inactive")
    expect(page.locator(".messages")).to_contain_text("Nothing is lost")
    _no_secrets(page)
    screenshot(page, "10-inactive")

    page.get_by_role("link", name="Audit log", exact=True).click()
    expect(page.locator("table.audit")).to_contain_text("Deactivated")
    expect(page.locator("table.audit")).to_contain_text(
        "Phone number: api field name: mobile_phone → cell_phone"
    )
    _no_secrets(page)
    screenshot(page, "11-audit-log")

    integration = Integration.objects.get(organization=organization)
    assert not integration.active and integration.first_activated_at is not None
    assert not integration.initial_load_requested and not integration.export_earlier_opt_ins
    assert integration.field_mappings.get(field="profile_first_name").required
    renames = [
        entry.changes["Phone number: api field name"]
        for entry in integration.audit_entries.filter(action=AuditEntry.Action.MAPPINGS).order_by("id")
        if "Phone number: api field name" in entry.changes
    ]
    assert renames == [["mobile_phone", "cell_phone"], ["cell_phone", "mobile_phone"]]
    assert list(integration.group_paths.values_list("group_id", flat=True)) == ["1002"]
