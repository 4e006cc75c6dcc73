"""The Synchronization report in a real browser, over runs the engine made against the simulator.

An Administrator opens the report of a finished run, filters by category, searches, opens a Field
Conflict and resolves it, downloads the CSV, tries one constituent and previews a run, with a screenshot
of each screen. Staff are refused; another organization's run is not found.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from lumisync.accounts.models import Role
from lumisync.datasync import report, services
from lumisync.datasync.engine.inbound import run_inbound
from lumisync.datasync.models import FieldConflict, Integration, SyncRun
from lumisync.simulator import SimulatorConfig, running_simulator
from lumisync.subscribers.models import Campaign, OptInPath, Profile

pytestmark = pytest.mark.browser


@pytest.fixture
def sim(settings):
    # The simulator listens on 127.0.0.1 over plain http: an operator would allow this only for a test site.
    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = True
    with running_simulator(SimulatorConfig(constituents=20, ftp=True)) as simulator:
        yield simulator


@pytest.fixture
def integration(organization, admin_user, sim):
    campaign = Campaign.objects.create(organization=organization, name="River Alerts")
    path = OptInPath.objects.create(organization=organization, campaign=campaign, name="Luminate sign-ups")
    actor = services.Actor.of(admin_user)
    integration = services.create_integration(organization, actor)
    services.apply_settings(
        integration,
        {
            "login_name": sim.login_name,
            "login_password": sim.login_password,
            "api_key": sim.api_key,
            "api_host": sim.host,
            "organization_code": sim.org,
            "export_url": sim.ftp_url,
            "datasync_username": sim.ftp_user,
            "datasync_password": sim.ftp_password,
            "allow_plain_http": True,
        },
        actor,
    )
    Integration.objects.filter(pk=integration.pk).update(
        active=True, default_opt_in_path=path, api_requests_per_second=1000.0
    )
    return Integration.objects.get(pk=integration.pk)


def add(sim, email, phone, first, last, opted_in=True):
    return sim.state.add_constituent(
        primary_email=email,
        mobile_phone=phone,
        custom_boolean50=opted_in,
        **{"name.first": first, "name.last": last},
    )


def read_csv(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))


def test_read_filter_search_resolve_and_download(
    browser_page, sign_in, screenshot, admin_user, integration, sim
):
    jane = add(sim, "jane@example.org", "2025550143", "Jane", "Doe")
    ned = add(sim, "ned@example.org", "2025550144", "Ned", "Stark", opted_in=False)
    sim.write_changed_file(mode="liberal")
    first = run_inbound(integration)
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    # Both sides change Jane's first name before the next run: the report holds it for an Administrator.
    Profile.objects.filter(constituent_id=jane).update(first_name="Janet")
    sim.clock.advance(60)
    sim.state.update_constituent(jane, **{"name.first": "Jan"})
    sim.write_changed_file(mode="liberal")
    second = run_inbound(integration)
    assert second.records.get(constituent_id=jane).category == "Field Conflict"

    page = browser_page
    sign_in(page, admin_user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Data Sync").click()
    page.get_by_role("link", name="Synchronization Report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Synchronization Report")
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    expect(page.locator("#run-chart a.bar")).to_have_count(2)
    expect(page.get_by_text("kept for 400 days")).to_be_visible()
    screenshot(page, "1-report")

    page.locator("#runs").get_by_role("link", name=f"Run {first.pk}").click()
    expect(page.locator("#run-status")).to_have_text("Succeeded")
    expect(page.locator("#summary")).to_contain_text("Processing Error")
    expect(page.locator("#details tbody tr")).to_have_count(first.records.count())
    screenshot(page, "2-run")

    page.locator("#category-filter").select_option("No Import")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#details tbody tr")).to_have_count(
        first.records.filter(category="No Import").count()
    )
    expect(page.locator("#details")).to_contain_text("Ned")
    expect(page.locator("#details")).not_to_contain_text("Jane")
    screenshot(page, "3-filtered")

    page.locator("#category-filter").select_option("")
    page.locator("#details-search").fill("(202) 555-0143")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#details tbody tr")).to_have_count(1)
    expect(page.locator("#details")).to_contain_text("jane@example.org")
    screenshot(page, "4-search")

    with page.expect_download() as download:
        page.locator("#download-csv").click()
    rows = read_csv(download.value.path())
    assert [(row["Constituent ID"], row["Mobile"]) for row in rows] == [(jane, "'+12025550143")]
    page.get_by_role("link", name="Clear").click()
    with page.expect_download() as download:
        page.locator("#download-csv").click()
    everything = read_csv(download.value.path())
    assert {row["Constituent ID"] for row in everything} >= {jane, ned}
    assert len(everything) == first.records.count()

    page.goto(f"/datasync/report/runs/{second.pk}/")
    page.locator("#category-filter").select_option("Field Conflict")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#details tbody tr")).to_have_count(1)
    expect(page.locator("#details ul.held")).to_contain_text("first_name")
    screenshot(page, "5-conflict-row")
    page.locator("#details").get_by_role("link", name="Resolve").click()
    expect(page.locator("#value-ours")).to_have_text("Janet")
    expect(page.locator("#value-theirs")).to_have_text("Jan")
    screenshot(page, "6-conflict")
    page.locator("#take-luminate").click()
    expect(page.locator(".messages")).to_contain_text("Took Luminate's")
    expect(page.locator("#conflict-state")).to_contain_text("Took Luminate's")
    expect(page.locator("#value-current")).to_have_text("Jan")
    expect(page.locator("#resolve-form")).to_have_count(0)
    screenshot(page, "7-resolved")
    assert Profile.objects.get(constituent_id=jane).first_name == "Jan"
    assert FieldConflict.objects.get().resolved_by == admin_user.username

    profile = Profile.objects.get(constituent_id=jane)
    page.goto(f"/subscribers/profiles/{profile.pk}/")
    expect(page.locator("#sync-history tbody tr")).to_have_count(2)
    expect(page.locator("#sync-history")).to_contain_text("Field Conflict")
    screenshot(page, "8-profile-history")


def test_try_one_and_preview(browser_page, sign_in, screenshot, admin_user, integration, sim, actor_liberal):
    add(sim, "kim@example.org", "2025550150", "Kim", "Park", opted_in=False)
    sim.write_changed_file(mode="liberal")
    page = browser_page
    sign_in(page, admin_user)
    page.goto("/datasync/report/")
    page.get_by_label("Try one constituent").fill("kim@example.org")
    page.get_by_role("button", name="Try").click()
    expect(page.locator(".messages")).to_contain_text("would be: Created")
    expect(page.locator("#record-category")).to_have_text("Created")
    screenshot(page, "1-try-one")

    page.goto("/datasync/report/")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-note")).to_be_visible()
    # The page follows the run live and shows its final state once it ends.
    expect(page.locator("#run-status")).to_have_text("Succeeded", timeout=30_000)
    screenshot(page, "2-preview")
    report.wait_for_background_runs()
    preview = SyncRun.objects.filter(dry_run=True).order_by("-id").first()
    assert preview.would_text_without_opt_in >= 1, "Kim has no opt-in in Luminate"
    expect(page.locator("#would-text strong")).to_have_text(str(preview.would_text_without_opt_in))
    expect(page.locator("#would-text")).to_contain_text("no opt-in in Luminate")
    assert not Profile.objects.exists(), "a preview writes nothing"


@pytest.fixture
def actor_liberal(integration, admin_user):
    services.apply_settings(
        integration, {"sync_type": "liberal"}, services.Actor.of(admin_user), sms_consent_confirmed=True
    )


def test_staff_are_refused_and_other_organizations_get_not_found(
    browser_page, sign_in, screenshot, make_user, organization, other_organization, integration
):
    run = SyncRun.objects.create(
        integration=integration, direction="inbound", status="succeeded", started_at=integration.created_at
    )
    page = browser_page
    sign_in(page, make_user(organization, role=Role.STAFF))
    assert page.goto("/datasync/report/").status == 403
    screenshot(page, "1-staff-refused")
    page.get_by_role("button", name="Sign out").click()

    stranger = make_user(other_organization)
    services.create_integration(other_organization, services.Actor.of(stranger))
    sign_in(page, stranger)
    assert page.goto(f"/datasync/report/runs/{run.pk}/").status == 404
    screenshot(page, "2-other-organization")


def test_a_running_run_shows_its_progress_live(browser_page, sign_in, screenshot, admin_user, integration):
    run = SyncRun.objects.create(
        integration=integration, direction="inbound", started_at=timezone.now(), total=1000, done=100
    )
    page = browser_page
    sign_in(page, admin_user)
    page.goto(f"/datasync/report/runs/{run.pk}/")
    expect(page.locator("#run-status")).to_have_text("Running")
    expect(page.locator(".run-progress [data-field=done]")).to_have_text("100")
    SyncRun.objects.filter(pk=run.pk).update(done=600)
    expect(page.locator(".run-progress [data-field=done]")).to_have_text("600")
    expect(page.locator(".run-progress progress")).to_have_attribute("value", "600")
    screenshot(page, "1-running")
    SyncRun.objects.filter(pk=run.pk).update(
        done=1000, status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    # The finished run's page replaces the live view once the poll sees the end.
    expect(page.locator("#run-status")).to_have_text("Succeeded")
    expect(page.locator(".run-progress")).to_have_count(0)
    screenshot(page, "2-finished")
