"""The Synchronization report pages, over runs the engine really made against the simulator.

Administrators only; another organization's runs, rows, conflicts and outbound items answer 404.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from datasync_testing import simulator_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lumisync.accounts.models import Role
from lumisync.datasync import report, services, views_report
from lumisync.datasync.engine.inbound import InboundOptions, run_inbound
from lumisync.datasync.engine.locks import run_lock
from lumisync.datasync.engine.outbound import run_outbound
from lumisync.datasync.models import (
    Direction,
    FieldConflict,
    Integration,
    OutboundItem,
    SyncRecord,
    SyncRun,
)
from lumisync.subscribers import services as subscriber_services
from lumisync.subscribers.models import Channel, Profile

CATEGORIES = [
    "Created",
    "Updated",
    "Deferred Subscription",
    "Field Conflict",
    "No New Changes",
    "No Difference",
    "Unable to Update",
    "No Import",
    "No Export",
    "Skipped Members",
    "Validation Error",
    "Processing Error",
]


def add(sim, email, phone, opted_in=True, first="Pat", last="Lee"):
    return sim.state.add_constituent(
        primary_email=email,
        mobile_phone=phone,
        custom_boolean50=opted_in,
        **{"name.first": first, "name.last": last},
    )


@pytest.fixture
def live(integration, sim, actor, web_path):
    """The integration against the simulator, active, Conservative, joining through ``web_path``."""
    services.apply_settings(integration, simulator_settings(sim), actor)
    Integration.objects.filter(pk=integration.pk).update(
        active=True, default_opt_in_path=web_path, api_requests_per_second=1000.0
    )
    return Integration.objects.get(pk=integration.pk)


@pytest.fixture
def people(sim):
    return {
        "jane": add(sim, "jane@example.org", "2025550143", first="Jane", last="Doe"),
        "ned": add(sim, "ned@example.org", "2025550144", opted_in=False, first="Ned", last="Stark"),
        "formula": add(sim, "formula@example.org", "2025550145", first='=HYPERLINK("x")', last="Cell"),
    }


@pytest.fixture
def first_run(live, sim, people):
    sim.write_changed_file(mode="liberal")
    run = run_inbound(live)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def rows_of(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


# --- access --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_are_refused_and_another_organizations_report_is_not_found(
    client, make_user, organization, other_organization, first_run, people
):
    record = first_run.records.get(constituent_id=people["jane"])
    profile = record.profile
    conflict = FieldConflict.objects.create(
        integration=first_run.integration,
        profile=profile,
        constituent_id=people["jane"],
        field="city",
        ours="Houston",
        theirs="Dallas",
    )
    own = [
        "/datasync/report/",
        f"/datasync/report/runs/{first_run.pk}/",
        f"/datasync/report/runs/{first_run.pk}/progress.json",
        f"/datasync/report/runs/{first_run.pk}/report.csv",
        f"/datasync/report/runs/{first_run.pk}/report.json",
        f"/datasync/report/records/{record.pk}/",
        f"/datasync/report/conflicts/{conflict.pk}/",
    ]
    client.force_login(make_user(organization, role=Role.STAFF))
    for url in own:
        assert client.get(url).status_code == 403, url
    assert client.post("/datasync/report/run-now/", {"action": "preview"}).status_code == 403

    stranger = make_user(other_organization)
    services.create_integration(other_organization, services.Actor.of(stranger))
    client.force_login(stranger)
    assert client.get("/datasync/report/").status_code == 200
    for url in own[1:]:
        assert client.get(url).status_code == 404, url
    response = client.post(f"/datasync/report/conflicts/{conflict.pk}/", {"choice": "luminate"})
    assert response.status_code == 404
    conflict.refresh_from_db()
    assert conflict.resolution == FieldConflict.Resolution.OPEN


# --- runs, summary, details ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_report_lists_runs_with_status_duration_counts_chart_and_retention(admin_client, first_run):
    page = admin_client.get("/datasync/report/").content.decode()
    assert f'href="/datasync/report/runs/{first_run.pk}/"' in page
    assert "Luminate → platform" in page and "Succeeded" in page
    assert '<svg id="run-chart"' in page and f'data-run="{first_run.pk}"' in page
    assert "kept for 400 days" in page
    # The Data Sync actions panel links here now that the page exists.
    assert (
        'href="/datasync/report/">Synchronization Report</a>'
        in admin_client.get("/datasync/").content.decode()
    )


@pytest.mark.django_db
def test_run_page_shows_every_category_and_the_details(admin_client, first_run, people):
    page = admin_client.get(f"/datasync/report/runs/{first_run.pk}/").content.decode()
    summary = page[page.index('id="summary"') : page.index("</table>", page.index('id="summary"'))]
    for category in CATEGORIES:
        assert f"{category}</" in summary, category
    assert "Jane" in page and "jane@example.org" in page and people["jane"] in page
    assert "+12025550143" in page
    ned = first_run.records.get(constituent_id=people["ned"])
    assert ned.category == "No Import"
    assert f'data-record="{ned.pk}"' in page


@pytest.mark.django_db
def test_details_filter_by_category_search_and_pages(admin_client, first_run, people, monkeypatch):
    url = f"/datasync/report/runs/{first_run.pk}/"
    no_import = admin_client.get(url, {"category": "No Import"})
    records = no_import.context["rows"]
    assert records and {row.category for row in records} == {"No Import"}
    assert people["ned"] in {row.constituent_id for row in records}

    for query in ("(202) 555-0143", "555-0143", "jane doe", "JANE@example.org", people["jane"]):
        found = admin_client.get(url, {"q": query}).context["rows"]
        assert [row.constituent_id for row in found] == [people["jane"]], query
    assert admin_client.get(url, {"q": "nobody-like-this"}).context["rows"] == []
    assert admin_client.get(url, {"category": "Created", "q": "ned"}).context["rows"] == []

    monkeypatch.setattr(views_report, "RECORDS_PER_PAGE", 2)
    total = first_run.records.count()
    first = admin_client.get(url, {"page": 1})
    last = admin_client.get(url, {"page": first.context["page"].paginator.num_pages})
    assert total > 2 and first.context["page"].paginator.num_pages == -(-total // 2)
    seen = {row.pk for row in first.context["rows"]} | {row.pk for row in last.context["rows"]}
    assert len(seen) == len(first.context["rows"]) + len(last.context["rows"])


@pytest.mark.django_db
def test_rows_show_fields_changed_and_field_conflicts_resolve_from_the_report(
    live, sim, people, first_run, admin_user
):
    jane = Profile.objects.get(constituent_id=people["jane"])
    jane.first_name = "Janet"
    jane.save(update_fields=["first_name", "updated_at"])
    sim.clock.advance(60)
    sim.state.update_constituent(people["jane"], **{"name.first": "Jan", "name.last": "Doe-Smith"})
    sim.write_changed_file(mode="liberal")
    second = run_inbound(live)
    row = second.records.get(constituent_id=people["jane"])
    assert row.category == "Field Conflict", row.reason

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    page = client.get(f"/datasync/report/runs/{second.pk}/", {"category": "Field Conflict"})
    html = page.content.decode()
    assert "last_name" in html and "Doe-Smith" in html, "the field changed only in Luminate is shown"
    conflict = FieldConflict.objects.get(constituent_id=people["jane"], field="first_name")
    assert f'href="/datasync/report/conflicts/{conflict.pk}/"' in html

    detail = client.get(f"/datasync/report/conflicts/{conflict.pk}/").content.decode()
    assert "Janet" in detail and "Jan" in detail and 'id="take-luminate"' in detail
    refused = client.post(f"/datasync/report/conflicts/{conflict.pk}/", {"choice": "luminate"})
    assert refused.status_code == 403, "no CSRF token, no change"
    token = client.cookies["csrftoken"].value
    done = client.post(
        f"/datasync/report/conflicts/{conflict.pk}/",
        {"choice": "luminate", "csrfmiddlewaretoken": token},
        follow=True,
    )
    assert "first_name of +12025550143: Took Luminate&#x27;s." in done.content.decode()
    jane.refresh_from_db()
    conflict.refresh_from_db()
    assert jane.first_name == "Jan"
    assert (conflict.resolution, conflict.resolved_by) == (
        FieldConflict.Resolution.TOOK_LUMINATE,
        admin_user.username,
    )
    again = client.post(
        f"/datasync/report/conflicts/{conflict.pk}/",
        {"choice": "ours", "csrfmiddlewaretoken": token},
        follow=True,
    )
    assert "already settled" in again.content.decode()
    jane.refresh_from_db()
    assert jane.first_name == "Jan"


# --- downloads and progress ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_csv_is_streamed_and_safe_in_a_spreadsheet(admin_client, first_run, people):
    response = admin_client.get(f"/datasync/report/runs/{first_run.pk}/report.csv")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert f"sync-report-run-{first_run.pk}.csv" in response["Content-Disposition"]
    rows = {row["Constituent ID"]: row for row in rows_of(response)}
    assert len(rows) == first_run.records.count()
    assert rows[people["jane"]]["Mobile"] == "'+12025550143"
    assert rows[people["formula"]]["First name"] == '\'=HYPERLINK("x")'
    assert rows[people["jane"]]["Category"] == "Created"

    filtered = rows_of(admin_client.get(f"/datasync/report/runs/{first_run.pk}/report.csv", {"q": "ned"}))
    assert [row["Constituent ID"] for row in filtered] == [people["ned"]]


@pytest.mark.django_db
def test_json_download_and_progress(admin_client, first_run, people):
    response = admin_client.get(f"/datasync/report/runs/{first_run.pk}/report.json")
    rows = json.loads(b"".join(response.streaming_content))
    jane = next(row for row in rows if row["constituent_id"] == people["jane"])
    assert jane["mobile"] == "+12025550143" and jane["category"] == "Created"
    assert isinstance(jane["changes"], dict)

    progress = admin_client.get(f"/datasync/report/runs/{first_run.pk}/progress.json").json()
    assert progress["status"] == "succeeded" and progress["finished"] is True
    assert progress["done"] == progress["total"] == first_run.total
    assert progress["rate"] > 0 and progress["counts"]["Created"] >= 2


# --- outbound failures and re-drive --------------------------------------------------------------------


@pytest.mark.django_db
def test_failed_outbound_items_are_listed_and_redriven(admin_client, live, sim, organization, web_path):
    profile, _ = subscriber_services.get_or_create_profile(
        organization, "2025550166", channel=Channel.WEB, email="bad@example.org"
    )
    subscriber_services.opt_in(profile, web_path, channel=Channel.WEB, source_detail="web form")
    sim.faults.inject("create", "error", code=22, message="Validation error: name too long.", count=1)
    run = run_outbound(live)
    item = OutboundItem.objects.get(status=OutboundItem.Status.FAILED)

    run_page = admin_client.get(f"/datasync/report/runs/{run.pk}/").content.decode()
    assert "name too long" in run_page and "Re-drive" in run_page
    home = admin_client.get("/datasync/report/").content.decode()
    assert f'value="{item.pk}"' in home and "name too long" in home

    response = admin_client.post("/datasync/report/redrive/", {"item": [str(item.pk)]}, follow=True)
    assert "will be sent again" in response.content.decode()
    item.refresh_from_db()
    assert (item.status, item.last_error) == (OutboundItem.Status.PENDING, "")
    again = run_outbound(live)
    assert again.records.get().category == "Created"
    assert "None: every change was sent" in admin_client.get("/datasync/report/").content.decode()


@pytest.mark.django_db
def test_redrive_never_touches_another_organizations_items(
    client, make_user, other_organization, live, sim, organization, web_path
):
    profile, _ = subscriber_services.get_or_create_profile(
        organization, "2025550167", channel=Channel.WEB, email="bad2@example.org"
    )
    subscriber_services.opt_in(profile, web_path, channel=Channel.WEB, source_detail="web form")
    sim.faults.inject("create", "error", code=22, message="Validation error.", count=1)
    run_outbound(live)
    item = OutboundItem.objects.get(status=OutboundItem.Status.FAILED)
    stranger = make_user(other_organization)
    services.create_integration(other_organization, services.Actor.of(stranger))
    client.force_login(stranger)
    client.post("/datasync/report/redrive/", {"item": [str(item.pk)], "all": "1"})
    item.refresh_from_db()
    assert item.status == OutboundItem.Status.FAILED


# --- try one constituent -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_try_one_constituent_by_id_or_email_writes_nothing(admin_client, live, sim, people):
    response = admin_client.post("/datasync/report/try/", {"constituent": people["jane"]}, follow=True)
    html = response.content.decode()
    assert "would be: Created" in html and "Nothing was written" in html
    assert Profile.objects.count() == 0
    run = SyncRun.objects.get()
    assert run.dry_run and run.records.get().constituent_id == people["jane"]

    by_email = admin_client.post("/datasync/report/try/", {"constituent": "ned@example.org"}, follow=True)
    assert f"Constituent {people['ned']} would be: No Import" in by_email.content.decode()

    unknown = admin_client.post("/datasync/report/try/", {"constituent": "nobody@example.org"}, follow=True)
    assert "No Luminate constituent has the email nobody@example.org" in unknown.content.decode()
    bad = admin_client.post("/datasync/report/try/", {"constituent": "12ab"}, follow=True)
    assert "neither a constituent ID" in bad.content.decode()
    assert Profile.objects.count() == 0


@pytest.mark.django_db
def test_try_one_constituent_is_offered_on_test_connection_and_goes_back_there_on_a_refusal(
    admin_client, live, sim, people
):
    page = admin_client.get(reverse("datasync:test_connection")).content.decode()
    assert 'id="try-one"' in page and 'name="from" value="test"' in page

    bad = admin_client.post(reverse("datasync:report_try"), {"constituent": "12ab", "from": "test"})
    tried = admin_client.post(reverse("datasync:report_try"), {"constituent": people["jane"], "from": "test"})

    assert bad.url == reverse("datasync:test_connection")
    record = SyncRun.objects.get().records.get()
    assert tried.url == reverse("datasync:report_record", args=[record.pk])
    assert record.category == "Created" and Profile.objects.count() == 0


# --- preview and run now (background threads: they need committed data) -------------------------------


@pytest.mark.django_db(transaction=True)
def test_preview_runs_in_the_background_and_counts_texts_without_opt_in(
    admin_client, live, sim, people, actor
):
    services.apply_settings(live, {"sync_type": "liberal"}, actor, sms_consent_confirmed=True)
    sim.write_changed_file(mode="liberal")
    response = admin_client.post("/datasync/report/run-now/", {"action": "preview"})
    report.wait_for_background_runs(timeout=60)
    run = SyncRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/datasync/report/runs/{run.pk}/"
    run.refresh_from_db()
    assert run.dry_run and run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.would_text_without_opt_in >= 1, "Ned has no opt-in in Luminate"
    page = admin_client.get(response["Location"]).content.decode()
    assert "Preview: nothing was written" in page
    assert f"It would text <strong>{run.would_text_without_opt_in}</strong>" in page
    assert Profile.objects.count() == 0
    home = admin_client.get("/datasync/report/").content.decode()
    assert f'href="/datasync/report/runs/{run.pk}/">Run {run.pk}</a> <span class="badge preview">' in home
    assert f'data-run="{run.pk}"' not in home, "previews are not in the chart"


@pytest.mark.django_db(transaction=True)
def test_run_now_starts_a_real_run_and_a_held_lock_is_reported(admin_client, live, sim, people):
    with run_lock(live, Direction.INBOUND):
        busy = admin_client.post("/datasync/report/run-now/", {"action": "inbound"}, follow=True)
    report.wait_for_background_runs(timeout=60)
    assert "The run did not start" in busy.content.decode()
    assert "already in progress" in busy.content.decode()
    assert not SyncRun.objects.exists()

    sim.write_changed_file(mode="liberal")
    response = admin_client.post("/datasync/report/run-now/", {"action": "inbound"})
    report.wait_for_background_runs(timeout=60)
    run = SyncRun.objects.get()
    assert response["Location"] == f"/datasync/report/runs/{run.pk}/"
    run.refresh_from_db()
    assert (run.status, run.dry_run, run.trigger) == (SyncRun.Status.SUCCEEDED, False, SyncRun.Trigger.MANUAL)
    assert Profile.objects.filter(constituent_id=people["jane"]).exists()

    outbound = admin_client.post("/datasync/report/run-now/", {"action": "outbound"})
    report.wait_for_background_runs(timeout=60)
    assert SyncRun.objects.get(direction=Direction.OUTBOUND).pk == int(outbound["Location"].split("/")[-2])


@pytest.mark.django_db
def test_run_now_needs_an_active_integration(admin_client, live):
    Integration.objects.filter(pk=live.pk).update(active=False)
    response = admin_client.post("/datasync/report/run-now/", {"action": "inbound"}, follow=True)
    assert "Activate the integration before running it" in response.content.decode()
    assert not SyncRun.objects.exists()


# --- the profile's sync history and retention ----------------------------------------------------------


@pytest.mark.django_db
def test_profile_page_shows_its_sync_history(admin_client, first_run, people, live):
    jane = Profile.objects.get(constituent_id=people["jane"])
    run_inbound(live, InboundOptions(dry_run=True, only_ids=(people["jane"],)))
    page = admin_client.get(f"/subscribers/profiles/{jane.pk}/").content.decode()
    history = page[page.index('id="sync-history"') : page.index("</table>", page.index('id="sync-history"'))]
    record = first_run.records.get(constituent_id=people["jane"])
    assert f'href="/datasync/report/records/{record.pk}/"' in history
    assert "Luminate → platform" in history and "Created" in history
    assert history.count("<tr>") == 1 + 1, "the header and the one real run; previews are not history"


@pytest.mark.django_db
def test_report_rows_older_than_the_retention_are_purged(first_run):
    rows = first_run.records.count()
    assert report.purge_expired(now=first_run.started_at + timedelta(days=399)) == 0
    assert report.purge_expired(now=first_run.started_at + timedelta(days=401)) == rows
    assert not SyncRecord.objects.exists()
    assert SyncRun.objects.filter(pk=first_run.pk).exists(), "the run keeps its totals"


@pytest.mark.django_db
def test_unusable_settings_are_reported_and_start_no_run(admin_client, integration):
    preview = admin_client.post("/datasync/report/run-now/", {"action": "preview"}, follow=True)
    assert "The run did not start: The Luminate settings cannot be used" in preview.content.decode()
    tried = admin_client.post("/datasync/report/try/", {"constituent": "1000101"}, follow=True)
    assert "The Luminate settings cannot be used" in tried.content.decode()
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_chart_stacks_each_run_by_outcome_scaled_to_the_largest(admin_client, live):
    now = timezone.now()
    big = SyncRun.objects.create(
        integration=live,
        direction=Direction.INBOUND,
        status="succeeded",
        started_at=now - timedelta(days=1),
        counts={"Created": 7, "No Difference": 2, "Processing Error": 1},
    )
    small = SyncRun.objects.create(
        integration=live,
        direction=Direction.OUTBOUND,
        status="partial",
        started_at=now,
        counts={"Updated": 3, "No Export": 2},
    )
    chart = admin_client.get("/datasync/report/").context["chart"]
    assert [bar.run.pk for bar in chart["bars"]] == [big.pk, small.pk], "oldest on the left"
    tall, short = chart["bars"]
    assert sum(segment.height for segment in tall.segments) == chart["height"]
    assert sum(segment.height for segment in short.segments) == chart["height"] // 2
    assert [(s.group, s.height) for s in tall.segments] == [
        ("written", 112),
        ("unchanged", 32),
        ("errors", 16),
    ]
    assert [s.group for s in short.segments] == ["written", "attention"]
    assert tall.segments[0].y + tall.segments[0].height == chart["height"], "bars stand on the axis"


# --- a profile's sync history ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_profile_page_shows_the_run_that_moved_its_link_away_and_a_constituent_luminate_lost(
    admin_client, first_run, live, sim, people
):
    old = Profile.objects.get(constituent_id=people["jane"])
    sim.state.update_constituent(people["jane"], mobile_phone="2025550146")
    sim.state.delete_constituent(people["formula"])
    name = sim.write_changed_file(mode="full")
    (Path(sim.ftp_root) / name).write_text(f"CONS_ID\r\n{people['jane']}\r\n{people['formula']}\r\n")
    moved = run_inbound(live)
    lost = Profile.objects.get(constituent_id=people["formula"])

    history = admin_client.get(reverse("subscribers:profile_detail", args=[old.pk])).content.decode()
    flagged = admin_client.get(reverse("subscribers:profile_detail", args=[lost.pk])).content.decode()

    row = moved.records.get(constituent_id=people["jane"])
    assert f'href="{reverse("datasync:report_record", args=[row.pk])}"' in history
    assert "+12025550146" in history, "the reason names the new number"
    assert 'id="link-not-found"' in flagged and people["formula"] in flagged
    assert 'id="link-not-found"' not in history
