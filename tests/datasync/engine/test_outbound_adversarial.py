"""Sequences meant to break the outbound sync: shared emails, constituents deleted in Luminate, consent
flipping between runs, inactivity, unconfirmed requests, and previews that must write nothing."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from engine_testing import add, linked_caller, luminate_writes, publish, sync

from lumisync.datasync.engine.outbound import OutboundOptions, run_outbound
from lumisync.datasync.models import LinkSnapshot, OutboundItem, SyncRun
from lumisync.luminate import LuminateClient
from lumisync.subscribers import services
from lumisync.subscribers.inbound import handle_inbound_text
from lumisync.subscribers.models import Channel, Profile

pytestmark = pytest.mark.django_db


def join(organization, path, phone, email="", channel=Channel.WEB, **fields) -> Profile:
    profile, _ = services.get_or_create_profile(organization, phone, channel=channel, email=email, **fields)
    services.opt_in(profile, path, channel=channel, source_detail="web form")
    return profile


def join_and_export(integration, organization, path, phone, email) -> tuple[Profile, str]:
    """A web opt-in already sent to Luminate: the profile and the constituent it created."""
    profile = join(organization, path, phone, email)
    run_outbound(integration)
    profile.refresh_from_db()
    return profile, profile.constituent_id


def categories(run) -> list[str]:
    return list(run.records.order_by("id").values_list("category", flat=True))


def opt_in_value(simulator, cons_id) -> bool:
    return simulator.state.get_constituent(cons_id)["custom_boolean50"]


def writes(simulator) -> list[tuple[str, str | None, object]]:
    """(method, cons_id, opt-in value sent) of each write Luminate received."""
    return [
        (w["method"], w["params"].get("cons_id"), w["params"].get("custom_boolean50"))
        for w in luminate_writes(simulator)
    ]


def due_now() -> None:
    OutboundItem.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))


# --- one email, two numbers --------------------------------------------------------------------------


def test_two_new_profiles_sharing_an_email_never_link_one_constituent_twice(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    first = join(organization, paths["default"], "2025550201", "family@example.org", first_name="Ann")
    second = join(organization, paths["default"], "2025550202", "family@example.org", first_name="Bob")

    run = run_outbound(integration)

    first.refresh_from_db()
    second.refresh_from_db()
    assert categories(run) == ["Created", "Skipped Members"]
    assert first.constituent_id and second.constituent_id is None
    assert simulator.state.find_by_email("family@example.org") == [first.constituent_id]
    assert OutboundItem.objects.get(profile=second).status == OutboundItem.Status.FAILED
    assert run.status == SyncRun.Status.SUCCEEDED, "Skipped Members is a final category"


def test_two_profiles_sharing_the_email_of_an_existing_record_link_only_the_first(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    cons = simulator.state.add_constituent(primary_email="shared@example.org", custom_boolean50=False)
    first = join(organization, paths["default"], "2025550203", "shared@example.org")
    second = join(organization, paths["default"], "2025550204", "shared@example.org")

    run_outbound(integration)
    # The second number then texts STOP: its opt-out must not touch the record linked to the first.
    handle_inbound_text(organization, second.phone_number, "STOP")
    run_outbound(integration)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.constituent_id == cons and second.constituent_id is None
    assert opt_in_value(simulator, cons) is True, "the first number is still subscribed"
    assert len(simulator.state.find_by_email("shared@example.org")) == 1


@pytest.mark.parametrize("record_exists", [False, True], ids=["new-email", "email-in-luminate"])
def test_preview_of_two_profiles_sharing_an_email_shows_what_a_real_run_does(
    make_integration, simulator, organization, paths, record_exists
):
    integration = make_integration()
    if record_exists:
        simulator.state.add_constituent(primary_email="twins@example.org")
    join(organization, paths["default"], "2025550205", "twins@example.org")
    join(organization, paths["default"], "2025550206", "twins@example.org")

    preview = run_outbound(integration, OutboundOptions(dry_run=True))
    assert not Profile.objects.filter(constituent_id__isnull=False).exists(), "a preview links nothing"
    real = run_outbound(integration)

    assert categories(real) == ["Updated" if record_exists else "Created", "Skipped Members"]
    assert categories(preview) == categories(real)


@pytest.mark.parametrize("then", ["opt-out", "call"])
def test_preview_of_a_later_event_for_the_email_of_a_record_it_would_create_shows_what_a_real_run_does(
    make_integration, simulator, organization, paths, then
):
    integration = make_integration()
    join(organization, paths["default"], "2025550207", "Kin@Example.org")
    other, _ = services.get_or_create_profile(
        organization, "2025550208", channel=Channel.SMS, email="kin@example.org"
    )
    if then == "opt-out":
        handle_inbound_text(organization, other.phone_number, "STOP")
    else:
        services.record_call(other, alert_id="4001", recipient_name="Rep. Kin", started_at=timezone.now())

    preview = run_outbound(integration, OutboundOptions(dry_run=True))
    assert not simulator.state.find_by_email("kin@example.org"), "a preview creates nothing"
    real = run_outbound(integration)

    assert categories(real) == ["Created", "Skipped Members"], "Luminate matches emails whatever their case"
    assert categories(preview) == categories(real)


def test_preview_of_a_call_by_a_profile_it_would_link_records_it_like_a_real_run(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    caller = join(organization, paths["default"], "2025550209", "caller@example.org")
    services.record_call(caller, alert_id="4001", recipient_name="Sen. Hill", started_at=timezone.now())

    preview = run_outbound(integration, OutboundOptions(dry_run=True))
    assert not luminate_writes(simulator)
    real = run_outbound(integration)

    caller.refresh_from_db()
    assert categories(real) == ["Created", "Updated"]
    assert len(simulator.state.actions(caller.constituent_id)) == 1
    assert categories(preview) == categories(real)
    assert len({row.constituent_id for row in preview.records.all()}) == 1, "the call goes to the new record"


# --- constituents deleted in Luminate ----------------------------------------------------------------


def test_opt_out_of_a_constituent_deleted_in_luminate_is_reported_once_and_kept(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile, cons = join_and_export(
        integration, organization, paths["default"], "2025550210", "gone@example.org"
    )
    simulator.state.delete_constituent(cons)
    handle_inbound_text(organization, profile.phone_number, "STOP")
    simulator.clear_request_log()

    failed = run_outbound(integration)
    due_now()
    later = run_outbound(integration)

    assert failed.status == SyncRun.Status.PARTIAL
    [record] = failed.records.all()
    assert record.category == "Processing Error" and record.constituent_id == cons
    item = OutboundItem.objects.get(profile=profile, kind=OutboundItem.Kind.OPT_OUT)
    assert item.status == OutboundItem.Status.FAILED and item.last_error, "kept with Luminate's message"
    assert later.total == 0, "a record-level failure is not retried in a loop"
    assert len([w for w in writes(simulator) if w[0] == "update"]) == 1
    assert not simulator.state.find_by_email("gone@example.org"), "no record is created for an opt-out"


def test_opt_in_of_a_constituent_deleted_in_luminate_creates_no_duplicate_behind_the_link(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile, cons = join_and_export(
        integration, organization, paths["default"], "2025550211", "merged@example.org"
    )
    services.opt_out(profile, paths["default"].campaign, channel=Channel.API)
    simulator.state.delete_constituent(cons)
    services.opt_in(profile, paths["default"], channel=Channel.SMS)

    run = run_outbound(integration)

    assert categories(run) == ["Processing Error"]
    profile.refresh_from_db()
    assert profile.constituent_id == cons, "the link is kept for an Administrator to resolve"
    assert not simulator.state.find_by_email("merged@example.org")


# --- consent flipping between runs -------------------------------------------------------------------


def test_opt_in_out_in_between_two_runs_ends_with_the_current_state_true(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile, cons = join_and_export(
        integration, organization, paths["default"], "2025550220", "flip@example.org"
    )
    simulator.clear_request_log()

    handle_inbound_text(organization, profile.phone_number, "STOP")
    handle_inbound_text(organization, profile.phone_number, "START")
    services.opt_out(profile, paths["default"].campaign, channel=Channel.API)
    services.opt_in(profile, paths["default"], channel=Channel.SMS)
    run = run_outbound(integration)

    assert opt_in_value(simulator, cons) is True
    assert writes(simulator) == [("update", cons, "true")], "one write with the current state"
    assert categories(run) == ["Updated"]
    assert LinkSnapshot.objects.get(constituent_id=cons).opted_in is True
    assert set(OutboundItem.objects.values_list("status", flat=True)) == {OutboundItem.Status.DELIVERED}


def test_opt_out_in_out_in_between_two_runs_ends_with_the_current_state_false(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile, cons = join_and_export(
        integration, organization, paths["default"], "2025550221", "flop@example.org"
    )

    handle_inbound_text(organization, profile.phone_number, "STOP")
    handle_inbound_text(organization, profile.phone_number, "START")
    handle_inbound_text(organization, profile.phone_number, "STOP")
    run_outbound(integration)

    assert opt_in_value(simulator, cons) is False
    assert LinkSnapshot.objects.get(constituent_id=cons).opted_in is False


def test_an_opt_out_during_a_transient_outage_is_not_overtaken_by_the_older_opt_in(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    cons = simulator.state.add_constituent(primary_email="outage@example.org", custom_boolean50=False)
    profile = join(organization, paths["default"], "2025550222", "outage@example.org")
    simulator.faults.inject("getUser", "http", status=503, count=50)
    run_outbound(integration)
    handle_inbound_text(organization, profile.phone_number, "STOP")
    simulator.faults.clear()

    run_outbound(integration)

    assert opt_in_value(simulator, cons) is False, "the opt-out does not wait for the opt-in's backoff"
    assert set(OutboundItem.objects.values_list("status", flat=True)) == {OutboundItem.Status.DELIVERED}


# --- unconfirmed requests ----------------------------------------------------------------------------


def test_a_request_waiting_for_yes_exports_nothing_until_the_yes(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    integration.group_paths.create(group_id="1003", opt_in_path=paths["confirm"], position=0)
    profile = join(organization, paths["confirm"], "2025550230", "maybe@example.org")
    simulator.clear_request_log()

    waiting = run_outbound(integration)

    assert waiting.total == 0 and not simulator.request_log
    handle_inbound_text(organization, profile.phone_number, "YES")
    run = run_outbound(integration)
    profile.refresh_from_db()
    assert categories(run) == ["Created"]
    assert opt_in_value(simulator, profile.constituent_id) is True


def test_a_web_form_then_a_second_stop_for_an_opted_out_number_never_exports_true(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    cons = simulator.state.add_constituent(primary_email="asked@example.org", custom_boolean50=True)
    profile = join(organization, paths["default"], "2025550231", "asked@example.org")
    handle_inbound_text(organization, profile.phone_number, "STOP")
    run_outbound(integration)
    assert opt_in_value(simulator, cons) is False

    services.opt_in(profile, paths["default"], channel=Channel.WEB, source_detail="web form")
    run_outbound(integration)
    handle_inbound_text(organization, profile.phone_number, "STOP")
    run_outbound(integration)

    assert opt_in_value(simulator, cons) is False
    assert all(value in ("false", None) for _method, _cons, value in writes(simulator)), writes(simulator)


# --- inactivity and previews -------------------------------------------------------------------------


def test_a_stop_made_while_inactive_goes_out_after_reactivation(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile, cons = join_and_export(
        integration, organization, paths["default"], "2025550240", "sleep@example.org"
    )
    integration.active = False
    integration.save(update_fields=["active"])
    handle_inbound_text(organization, profile.phone_number, "STOP")
    simulator.clear_request_log()

    idle = run_outbound(integration)
    assert idle.total == 0 and not simulator.request_log
    assert opt_in_value(simulator, cons) is True

    integration.active = True
    integration.save(update_fields=["active"])
    run = run_outbound(integration)

    assert categories(run) == ["Updated"]
    assert opt_in_value(simulator, cons) is False


def test_preview_of_a_call_left_in_flight_that_luminate_never_got_shows_it_sent_again(
    make_integration, simulator, organization
):
    integration = make_integration()
    cons = linked_caller(simulator, organization, "unsent@example.org", "2025550253", "Sen. Gone")
    simulator.faults.inject("takeAction", "hang", count=1)
    run_outbound(integration)
    OutboundItem.objects.update(updated_at=timezone.now() - timedelta(minutes=5))

    preview = run_outbound(integration, OutboundOptions(dry_run=True))
    assert OutboundItem.objects.get().status == OutboundItem.Status.IN_FLIGHT, "a preview settles nothing"
    assert not simulator.state.actions(cons)
    real = run_outbound(integration)

    assert categories(real) == ["Updated"]
    assert len(simulator.state.actions(cons)) == 1
    assert categories(preview) == categories(real)


def test_preview_writes_nothing_to_luminate_for_every_kind_of_event(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    linked = join(organization, paths["default"], "2025550250", "linked@example.org")
    run_outbound(integration)
    linked.refresh_from_db()
    existing = simulator.state.add_constituent(primary_email="known@example.org", custom_boolean50=False)
    services.record_call(
        linked, alert_id="4001", recipient_name="Sen. Lake", started_at=timezone.now(), duration_seconds=5
    )
    handle_inbound_text(organization, linked.phone_number, "STOP")
    join(organization, paths["default"], "2025550251", "known@example.org")
    join(organization, paths["default"], "2025550252", "brand.new@example.org")
    before = {cons: simulator.state.get_constituent(cons) for cons in (linked.constituent_id, existing)}
    simulator.clear_request_log()

    preview = run_outbound(integration, OutboundOptions(dry_run=True))

    assert preview.status == SyncRun.Status.SUCCEEDED and preview.total == 4
    assert not luminate_writes(simulator), luminate_writes(simulator)
    assert {cons: simulator.state.get_constituent(cons) for cons in before} == before
    assert not simulator.state.find_by_email("brand.new@example.org")
    assert not Profile.objects.filter(phone_number="+12025550251", constituent_id__isnull=False).exists()

    real = run_outbound(integration)
    assert sorted(categories(real)) == sorted(categories(preview))
    assert opt_in_value(simulator, linked.constituent_id) is False
    assert len(simulator.state.actions(linked.constituent_id)) == 1


# --- echo suppression against the person's own changes ------------------------------------------------


def test_a_stop_after_an_inbound_subscription_is_exported(make_integration, simulator, organization):
    integration = make_integration()
    cons = add(simulator, "from.crm@example.org", "2025550260")
    publish(simulator)
    sync(integration)
    profile = Profile.objects.get(constituent_id=cons)
    simulator.clear_request_log()
    assert run_outbound(integration).total == 0, "the inbound subscription is not echoed"

    handle_inbound_text(organization, profile.phone_number, "STOP")
    run = run_outbound(integration)

    assert categories(run) == ["Updated"]
    assert opt_in_value(simulator, cons) is False


def test_an_opt_out_matched_by_email_leaves_the_donors_mobile_number_alone(
    make_integration, simulator, organization, paths
):
    """policy.md, opt-out rows: the update sets the opt-in field false, nothing else. The record found by
    email may hold another mobile number (the donor's own); the number that texted STOP must not replace it."""
    integration = make_integration()
    cons = simulator.state.add_constituent(
        primary_email="household@example.org", mobile_phone="2025550299", custom_boolean50=True
    )
    profile, _ = services.get_or_create_profile(
        organization, "2025550270", channel=Channel.SMS, email="household@example.org"
    )
    handle_inbound_text(organization, profile.phone_number, "STOP")

    run = run_outbound(integration)

    assert categories(run) == ["Updated"]
    record = simulator.state.get_constituent(cons)
    assert record["custom_boolean50"] is False
    assert "2025550299" in "".join(ch for ch in str(record["mobile_phone"]) if ch.isdigit())


def _another_writer_gets_in(database: str) -> bool:
    """Whether a second connection (a STOP arriving by webhook, say) could write at this moment."""
    probe = sqlite3.connect(database, timeout=0.2, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "dry_run",
    [pytest.param(False, id="real-run"), pytest.param(True, id="preview")],
)
def test_the_outbound_sync_lets_a_stop_be_written_while_it_talks_to_luminate(
    make_integration, simulator, organization, paths, monkeypatch, dry_run
):
    if connection.vendor != "sqlite":
        pytest.skip("the write lock probed here is SQLite's")
    integration = make_integration()
    join(organization, paths["default"], "2025550280", "busy@example.org")
    database = connection.settings_dict["NAME"]
    seen = []
    lookup = LuminateClient.get_user

    def observed(client, **params):
        seen.append(_another_writer_gets_in(database))
        return lookup(client, **params)

    monkeypatch.setattr(LuminateClient, "get_user", observed)

    run_outbound(integration, OutboundOptions(dry_run=dry_run))

    assert seen == [True]
