"""The admin app in a real browser: sign-in, profile search and a profile's page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from lumisync.subscribers import services
from lumisync.subscribers.models import Campaign, Channel, OptInPath

pytestmark = pytest.mark.browser

PASSWORD = "s3cret-Pass-123"


@pytest.fixture
def supporters(organization):
    campaign = Campaign.objects.create(organization=organization, name="River Alerts")
    path = OptInPath.objects.create(
        organization=organization,
        campaign=campaign,
        name="Website footer",
        welcome_message="Thanks for joining River Alerts! Reply HELP for help, STOP to end.",
    )
    jane, _ = services.get_or_create_profile(
        organization,
        "+1 202 555 0143",
        channel=Channel.WEB,
        first_name="Jane",
        last_name="Doe",
        email="jane@example.org",
        constituent_id="1001234",
    )
    services.opt_in(
        jane,
        path,
        channel=Channel.SMS,
        actor="+12025550143",
        consent_wording="Text RIVERS to join River Alerts.",
    )
    for number, name in (("+1 202 555 0188", "Omar"), ("+1 415 555 0100", "Ines")):
        profile, _ = services.get_or_create_profile(
            organization, number, channel=Channel.WEB, first_name=name
        )
        services.opt_in(profile, path, channel=Channel.SMS)
    return jane


def test_sign_in_search_and_open_a_profile(browser_page, screenshot, admin_user, organization, supporters):
    page = browser_page
    page.goto("/")
    expect(page).to_have_url("/login/?next=/")

    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    screenshot(page, "sign-in-wrong-password")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(organization.name)
    expect(page.locator("#count-profiles")).to_have_text("3")
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Data Sync")).to_have_attribute("href", "/datasync/")
    screenshot(page, "dashboard")

    navigation.get_by_role("link", name="Profiles").click()
    page.get_by_label("Search by mobile number, email, name or constituent ID").fill("(202) 555-0143")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Jane Doe")
    screenshot(page, "profile-search")

    rows.first.get_by_role("link", name="+12025550143").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Jane Doe")
    subscriptions = page.locator("#subscriptions")
    expect(subscriptions).to_contain_text("River Alerts")
    expect(subscriptions).to_contain_text("Text message by +12025550143")
    expect(subscriptions).to_contain_text("Text RIVERS to join River Alerts.")
    expect(page.locator("#messages")).to_contain_text("Thanks for joining River Alerts!")
    screenshot(page, "profile-detail")


def test_stylesheet_is_served(browser_page):
    response = browser_page.goto("/login/")
    assert response.ok
    stylesheet = browser_page.locator("link[rel=stylesheet]").get_attribute("href")
    css = browser_page.request.get(stylesheet)
    assert css.ok, stylesheet
    assert "--accent" in css.text()


def test_create_a_campaign_and_a_keyword_path(browser_page, sign_in, screenshot, make_user, organization):
    from lumisync.accounts.models import Role

    sam = make_user(organization, role=Role.STAFF, username="sam")
    page = browser_page
    sign_in(page, sam)
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Data Sync")).to_have_count(0)

    navigation.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("River Alerts")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign River Alerts created.")

    page.get_by_role("link", name="New opt-in path").click()
    page.get_by_label("Name").fill("Rally keyword")
    page.get_by_label("Kind").select_option("keyword")
    page.get_by_label("Keyword").fill("rally two")
    page.get_by_role("button", name="Create opt-in path").click()
    expect(page.get_by_role("alert")).to_contain_text("Keyword: 'RALLY TWO' is not a keyword")
    screenshot(page, "path-refused")

    page.get_by_label("Keyword").fill("rally")
    page.get_by_label("Welcome message").fill("Thanks for joining River Alerts!")
    page.get_by_role("button", name="Create opt-in path").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("Opt-in path Rally keyword (River Alerts) created.")
    expect(status).to_contain_text("Welcome message: The message does not say how to stop messages")
    expect(page.locator("#path-key")).to_have_text(OptInPath.objects.get(keyword="RALLY").public_key)
    screenshot(page, "path-saved-with-warnings")
