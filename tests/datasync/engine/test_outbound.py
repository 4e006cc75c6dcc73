"""The outbound sync against the simulator: the outbound rows of policy.md."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from lumisync.datasync.engine import outbound
from lumisync.datasync.engine.inbound import run_inbound
from lumisync.datasync.engine.outbound import OutboundOptions, run_outbound
from lumisync.datasync.models import OutboundCursor, OutboundItem, SyncRun
from lumisync.subscribers import services
from lumisync.subscribers.models import Call, Channel, ConsentEvent, Profile

pytestmark = pytest.mark.django_db


def join(organization, path, phone, email="", **fields):
    profile, _ = services.get_or_create_profile(
        organization, phone, channel=Channel.WEB, email=email, **fields
    )
    services.opt_in(profile, path, channel=Channel.WEB, source_detail="web form")
    return profile


def rows(run):
    return list(run.records.order_by("id").values_list("category", "reason"))


def test_new_opt_in_with_unknown_email_creates_the_constituent(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile = join(organization, paths["default"], "2025550160", "new.person@example.org", first_name="New")

    run = run_outbound(integration)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    profile.refresh_from_db()
    assert profile.constituent_id
    record = simulator.state.get_constituent(profile.constituent_id)
    assert record["custom_boolean50"] is True
    assert record["primary_email"] == "new.person@example.org"
    assert rows(run)[0][0] == "Created"


def test_opt_in_matching_an_existing_record_by_email_links_and_never_overwrites(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    cons = simulator.state.add_constituent(
        primary_email="donor@example.org", **{"name.first": "Dorothy", "name.last": ""}
    )
    join(
        organization, paths["default"], "2025550161", "donor@example.org", first_name="Dot", last_name="Smith"
    )

    run = run_outbound(integration)

    record = simulator.state.get_constituent(cons)
    assert record["name.first"] == "Dorothy", "a donor's data is never overwritten"
    assert record["name.last"] == "Smith", "empty fields are filled"
    assert record["custom_boolean50"] is True
    assert Profile.objects.get(phone_number="+12025550161").constituent_id == cons
    assert rows(run)[0][0] == "Updated"


def test_opt_out_sets_the_field_false_and_supersedes_a_failed_opt_in(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    cons = simulator.state.add_constituent(primary_email="out@example.org", custom_boolean50=True)
    profile = join(organization, paths["default"], "2025550162", "out@example.org")
    simulator.faults.inject("getUser", "error", code=1, count=50)
    first = run_outbound(integration)
    assert rows(first)[0][0] == "Unable to Update"

    services.opt_out(profile, channel=Channel.SMS, source_detail="STOP")
    simulator.faults.clear()
    OutboundItem.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    second = run_outbound(integration)

    assert simulator.state.get_constituent(cons)["custom_boolean50"] is False
    assert set(OutboundItem.objects.values_list("status", flat=True)) == {OutboundItem.Status.DELIVERED}
    assert rows(second)[0][0] == "Updated"


def test_opt_in_without_email_waits_then_goes_when_an_email_arrives(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile = join(organization, paths["default"], "2025550163")
    assert rows(run_outbound(integration))[0][0] == "No Export"
    assert OutboundItem.objects.get().status == OutboundItem.Status.WAITING

    services.update_profile_fields(profile, email="late@example.org")
    run_outbound(integration)

    profile.refresh_from_db()
    assert profile.constituent_id
    assert OutboundItem.objects.get().status == OutboundItem.Status.DELIVERED


def test_inbound_changes_are_not_echoed_back(make_integration, simulator):
    integration = make_integration()
    simulator.state.add_constituent(
        primary_email="echo@example.org", mobile_phone="2025550164", custom_boolean50=True
    )
    simulator.write_changed_file(mode="conservative")
    run_inbound(integration)
    simulator.clear_request_log()

    run = run_outbound(integration)

    assert run.total == 0
    assert not [entry for entry in simulator.request_log if entry.get("method") in ("update", "create")]


def test_call_is_sent_once_through_take_action(make_integration, simulator, organization, paths):
    integration = make_integration()
    profile = join(organization, paths["default"], "2025550165", "caller@example.org")
    run_outbound(integration)
    profile.refresh_from_db()
    services.record_call(
        profile,
        alert_id="4001",
        recipient_id="S001",
        recipient_name="Sen. Rivers",
        started_at=timezone.now(),
        duration_seconds=95,
        status=Call.Status.COMPLETED,
    )

    sent = run_outbound(integration)
    again = run_outbound(integration)

    assert rows(sent)[0][0] == "Updated", rows(sent)
    assert again.total == 0
    actions = simulator.state.actions(profile.constituent_id)
    assert len(actions) == 1
    assert actions[0]["alert_id"] == "4001"


def test_record_level_failure_is_reported_with_luminates_message(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    join(organization, paths["default"], "2025550166", "bad@example.org")
    simulator.faults.inject("create", "error", code=22, message="Validation error: name too long.", count=1)

    run = run_outbound(integration)

    assert run.status == SyncRun.Status.PARTIAL
    category, reason = rows(run)[0]
    assert category == "Processing Error" and "name too long" in reason
    assert OutboundItem.objects.get().status == OutboundItem.Status.FAILED


def test_an_event_that_commits_after_a_higher_id_was_read_is_still_exported(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile = join(organization, paths["default"], "2025550193", "late@example.org")
    event = ConsentEvent.objects.get(profile=profile, kind=ConsentEvent.Kind.OPT_IN)
    # As on PostgreSQL when a transaction holding a lower id commits after a higher id was read.
    OutboundCursor.objects.create(integration=integration, last_event_id=event.pk + 10)

    run_outbound(integration)

    profile.refresh_from_db()
    assert profile.constituent_id
    assert simulator.state.get_constituent(profile.constituent_id)["custom_boolean50"] is True
    assert OutboundCursor.objects.get(integration=integration).last_event_id == event.pk + 10

    old = ConsentEvent.objects.filter(pk=event.pk)
    old.update(occurred_at=timezone.now() - timedelta(hours=1))
    OutboundItem.objects.all().delete()
    run_outbound(integration)
    assert not OutboundItem.objects.exists(), "only recent events below the cursor are read again"


def test_a_duplicate_answer_to_create_is_reported_as_the_update_it_leads_to(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    cons = simulator.state.add_constituent(
        primary_email="twice@example.org", custom_boolean50=False, **{"name.first": "Dana", "name.last": ""}
    )
    join(organization, paths["default"], "2025550167", "twice@example.org", first_name="Dee", last_name="Ray")
    # The lookup misses the record (made in Luminate a moment later), so create is tried and refused.
    simulator.faults.inject("getUser", "error", code=16, count=1)
    simulator.faults.inject("create", "error", code=11, count=1)

    run = run_outbound(integration)

    assert rows(run) == [
        (
            "Updated",
            f"Linked by email to constituent {cons} after Luminate answered create with a duplicate (code 11); "
            "set custom_boolean50 to true; filled empty fields name.last.",
        )
    ]
    record = simulator.state.get_constituent(cons)
    assert (record["name.first"], record["name.last"], record["custom_boolean50"]) == ("Dana", "Ray", True)
    assert Profile.objects.get(phone_number="+12025550167").constituent_id == cons


def test_a_run_saves_its_progress_as_it_goes_and_the_report_page_follows_it(
    make_integration, organization, paths, admin_client, monkeypatch
):
    monkeypatch.setattr(outbound, "PROGRESS_EVERY_RECORDS", 2)
    monkeypatch.setattr(outbound, "PROGRESS_EVERY_SECONDS", 3600)
    integration = make_integration()
    for n in range(5):
        join(organization, paths["default"], f"20255501{70 + n}", f"progress{n}@example.org")
    polled = []

    def poll(run):
        # What the report page shows while the run goes, read from the database as its poll reads it.
        page = admin_client.get(f"/datasync/report/runs/{run.pk}/").content.decode()
        assert f'data-progress-url="/datasync/report/runs/{run.pk}/progress.json"' in page
        assert "/static/datasync/report.js" in page
        progress = admin_client.get(f"/datasync/report/runs/{run.pk}/progress.json").json()
        polled.append(
            (progress["status"], progress["done"], progress["total"], progress["counts"].get("Created"))
        )

    run = run_outbound(integration, OutboundOptions(progress=poll))

    assert polled == [
        ("running", 0, 5, None),
        ("running", 2, 5, 2),
        ("running", 4, 5, 4),
        ("running", 5, 5, 5),
    ]
    assert (run.status, run.done, run.total) == (SyncRun.Status.SUCCEEDED, 5, 5)
