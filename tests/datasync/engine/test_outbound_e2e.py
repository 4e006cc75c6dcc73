"""The outbound rows of policy.md that test_outbound.py leaves out, end to end against the simulator:
what reaches Luminate (its records and its request log) for each consent event and call."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone
from engine_testing import add, calls, change, luminate_writes, publish, sync

from lumisync.datasync import services as integration_services
from lumisync.datasync.engine.context import load_context
from lumisync.datasync.engine.outbound import OutboundOptions, enqueue, run_outbound
from lumisync.datasync.models import Integration, OutboundCursor, OutboundItem, SyncRun
from lumisync.subscribers import services
from lumisync.subscribers.models import Channel, ConsentEvent, Profile

pytestmark = pytest.mark.django_db


def skip_events_so_far(integration) -> None:
    """As if the integration had been activated now without sending the earlier opt-ins."""
    newest = ConsentEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    Integration.objects.filter(pk=integration.pk).update(outbound_start_event_id=newest)


@pytest.fixture(params=["liberal", "conservative"])
def sync_type(request):
    """Outbound rules do not depend on the sync type: each test runs under both to show it."""
    return request.param


def join(organization, path, phone, email="", **fields) -> Profile:
    profile, _ = services.get_or_create_profile(
        organization, phone, channel=Channel.WEB, email=email, **fields
    )
    services.opt_in(profile, path, channel=Channel.WEB, source_detail="web form")
    return profile


def categories(run) -> list[str]:
    return list(run.records.order_by("id").values_list("category", flat=True))


def opt_in_value(simulator, cons_id) -> bool:
    return simulator.state.get_constituent(cons_id)["custom_boolean50"]


def due_now() -> None:
    OutboundItem.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_opt_in_of_a_linked_profile_updates_the_linked_record(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    cons = simulator.state.add_constituent(primary_email="linked@example.org", custom_boolean50=False)
    profile, _ = services.get_or_create_profile(organization, "2025550170", channel=Channel.WEB)
    services.update_profile_fields(profile, constituent_id=cons)
    services.opt_in(profile, paths["default"], channel=Channel.WEB)
    simulator.clear_request_log()

    run = run_outbound(integration)

    assert categories(run) == ["Updated"]
    writes = luminate_writes(simulator)
    assert [(w["method"], w["params"]["cons_id"]) for w in writes] == [("update", cons)]
    assert not calls(simulator, "getUser"), "a linked profile needs no lookup"
    record = simulator.state.get_constituent(cons)
    assert record["custom_boolean50"] is True and record["mobile_phone"] == "+12025550170"


def test_opt_in_whose_email_belongs_to_a_record_linked_elsewhere_is_skipped(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    cons = simulator.state.add_constituent(primary_email="shared@example.org")
    owner, _ = services.get_or_create_profile(organization, "2025550171", channel=Channel.WEB)
    services.update_profile_fields(owner, constituent_id=cons)
    skip_events_so_far(integration)
    join(organization, paths["default"], "2025550172", "shared@example.org")
    simulator.clear_request_log()

    run = run_outbound(integration)

    assert categories(run) == ["Skipped Members"]
    assert not luminate_writes(simulator)
    assert OutboundItem.objects.get().status == OutboundItem.Status.FAILED
    assert Profile.objects.get(phone_number="+12025550172").constituent_id is None


def test_opt_in_whose_email_matches_several_records_is_skipped(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    simulator.set_duplicate_emails("allow")
    simulator.state.add_constituent(primary_email="twins@example.org")
    simulator.state.add_constituent(primary_email="twins@example.org")
    join(organization, paths["default"], "2025550173", "twins@example.org")
    simulator.clear_request_log()

    run = run_outbound(integration)

    assert categories(run) == ["Skipped Members"]
    assert "Several" in run.records.get().reason
    assert not luminate_writes(simulator)


def test_create_carries_source_sub_source_centers_and_an_interaction(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type, center_ids="2001", source_code="mcommons", no_welcome="1")
    profile = join(organization, paths["default"], "2025550174", "brand.new@example.org", first_name="Bran")

    run = run_outbound(integration)

    assert categories(run) == ["Created"]
    profile.refresh_from_db()
    record = simulator.state.get_constituent(profile.constituent_id)
    assert (record["source"], record["sub_source"]) == ("mcommons", "lumisync")
    assert record["center_ids"] == ["2001"]
    assert record["name.first"] == "Bran" and record["mobile_phone"] == "+12025550174"
    assert any("SMS" in i["subject"] for i in simulator.state.interactions(profile.constituent_id))
    assert len(simulator.state.find_by_email("brand.new@example.org")) == 1


def test_opt_out_of_a_profile_found_by_email_sets_false_and_links(
    sync_type, make_integration, simulator, organization
):
    integration = make_integration(sync_type)
    cons = simulator.state.add_constituent(primary_email="leaver@example.org", custom_boolean50=True)
    profile, _ = services.get_or_create_profile(
        organization, "2025550175", channel=Channel.WEB, email="leaver@example.org"
    )
    services.opt_out(profile, channel=Channel.SMS, source_detail="STOP")

    run = run_outbound(integration)

    assert categories(run) == ["Updated"]
    assert opt_in_value(simulator, cons) is False
    profile.refresh_from_db()
    assert profile.constituent_id == cons


def test_opt_out_with_no_matching_record_sends_nothing(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    profile = join(organization, paths["default"], "2025550176")
    skip_events_so_far(integration)
    services.update_profile_fields(profile, email="nobody@example.org")
    services.opt_out(profile, channel=Channel.SMS, source_detail="STOP")
    simulator.clear_request_log()

    run = run_outbound(integration)

    assert categories(run) == ["No Export"]
    assert not luminate_writes(simulator)
    assert OutboundItem.objects.get().status == OutboundItem.Status.DELIVERED


def test_a_campaign_opt_out_sets_false_only_when_no_synced_subscription_is_left(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    integration.group_paths.create(group_id="1003", opt_in_path=paths["donors"], position=0)
    profile = join(organization, paths["default"], "2025550177", "two.lists@example.org")
    services.opt_in(profile, paths["donors"], channel=Channel.WEB)
    run_outbound(integration)
    profile.refresh_from_db()
    cons = profile.constituent_id

    services.opt_out(profile, paths["default"].campaign, channel=Channel.WEB)
    run_outbound(integration)
    assert opt_in_value(simulator, cons) is True, "still subscribed to another synced campaign"

    services.opt_out(profile, paths["donors"].campaign, channel=Channel.WEB)
    run_outbound(integration)
    assert opt_in_value(simulator, cons) is False


def test_an_opt_out_goes_out_although_an_earlier_opt_in_failed_for_good(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    cons = simulator.state.add_constituent(primary_email="refused@example.org", custom_boolean50=True)
    profile = join(organization, paths["default"], "2025550178", "refused@example.org")
    simulator.faults.inject("update", "error", code=22, message="Invalid value.", count=1)
    failed = run_outbound(integration)
    assert categories(failed) == ["Processing Error"]
    assert OutboundItem.objects.get().status == OutboundItem.Status.FAILED

    services.opt_out(profile, channel=Channel.SMS, source_detail="STOP")
    run = run_outbound(integration)

    assert categories(run) == ["Updated"]
    assert opt_in_value(simulator, cons) is False


def test_transient_failure_is_retried_with_backoff_and_never_lost(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    cons = simulator.state.add_constituent(primary_email="later@example.org")
    join(organization, paths["default"], "2025550179", "later@example.org")
    simulator.faults.inject("update", "http", status=503, count=3)

    first = run_outbound(integration)

    assert categories(first) == ["Unable to Update"]
    item = OutboundItem.objects.get()
    assert item.status == OutboundItem.Status.PENDING and item.next_attempt_at > timezone.now()
    assert run_outbound(integration).total == 0, "not before its backoff is over"
    assert opt_in_value(simulator, cons) is False

    due_now()
    last = run_outbound(integration)

    assert categories(last) == ["Updated"]
    assert opt_in_value(simulator, cons) is True
    assert OutboundItem.objects.get().status == OutboundItem.Status.DELIVERED


def test_a_replayed_event_changes_nothing(sync_type, make_integration, simulator, organization, paths):
    integration = make_integration(sync_type)
    profile = join(organization, paths["default"], "2025550180", "replay@example.org")
    run_outbound(integration)
    profile.refresh_from_db()
    before = simulator.state.get_constituent(profile.constituent_id)
    simulator.clear_request_log()

    again = run_outbound(integration)
    OutboundCursor.objects.filter(integration=integration).update(last_event_id=0, last_call_id=0)
    rewound = run_outbound(integration)

    assert again.total == 0 and rewound.total == 0
    assert not luminate_writes(simulator)
    assert simulator.state.get_constituent(profile.constituent_id) == before
    assert len(simulator.state.find_by_email("replay@example.org")) == 1


def test_withdrawals_and_subscriptions_made_by_the_inbound_sync_are_not_echoed(
    sync_type, make_integration, simulator, paths
):
    integration = make_integration(sync_type)
    cons = add(simulator, "no.echo@example.org", "2025550181")
    publish(simulator)
    sync(integration)
    change(simulator, cons, custom_boolean50=False)
    publish(simulator)
    sync(integration)
    assert ConsentEvent.objects.filter(channel=Channel.LUMINATE).count() == 2
    simulator.clear_request_log()

    run = run_outbound(integration)

    assert run.total == 0
    assert not luminate_writes(simulator)


@pytest.mark.parametrize("export_earlier", [True, False])
def test_events_from_before_the_first_activation_go_out_only_when_chosen(
    sync_type, make_integration, simulator, organization, paths, export_earlier
):
    earlier = join(organization, paths["default"], "2025550182", "earlier@example.org")
    last = ConsentEvent.objects.order_by("-id").values_list("id", flat=True).first()
    integration = make_integration(sync_type, outbound_start_event_id=0 if export_earlier else last)
    after = join(organization, paths["default"], "2025550183", "after@example.org")

    run_outbound(integration)

    earlier.refresh_from_db()
    after.refresh_from_db()
    assert after.constituent_id
    assert bool(earlier.constituent_id) is export_earlier
    assert bool(simulator.state.find_by_email("earlier@example.org")) is export_earlier


def test_events_while_inactive_wait_for_reactivation(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type, active=False)
    profile = join(organization, paths["default"], "2025550184", "asleep@example.org")
    simulator.clear_request_log()

    idle = run_outbound(integration)

    assert idle.total == 0 and "inactive" in idle.error
    assert not simulator.request_log, "nothing is even read from Luminate"
    integration.active = True
    integration.save(update_fields=["active"])
    run = run_outbound(integration)
    assert categories(run) == ["Created"]
    profile.refresh_from_db()
    assert profile.constituent_id


def test_a_call_without_link_or_email_waits_then_goes_once_linked_by_email(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    cons = simulator.state.add_constituent(primary_email="caller2@example.org")
    profile, _ = services.get_or_create_profile(organization, "2025550185", channel=Channel.SMS)
    services.record_call(
        profile, alert_id="4001", recipient_name="Sen. Lake", started_at=timezone.now(), duration_seconds=30
    )

    waiting = run_outbound(integration)
    assert categories(waiting) == ["No Export"]
    assert OutboundItem.objects.get(kind=OutboundItem.Kind.CALL).status == OutboundItem.Status.WAITING
    assert not simulator.state.actions(cons)

    services.update_profile_fields(profile, email="caller2@example.org")
    sent = run_outbound(integration)
    run_outbound(integration)

    assert "Updated" in categories(sent)
    actions = simulator.state.actions(cons)
    assert len(actions) == 1
    assert actions[0]["called"] is True and actions[0]["contact_name"] == "Sen. Lake"
    assert "30 s" in actions[0]["note"]
    profile.refresh_from_db()
    assert profile.constituent_id == cons


def test_dry_run_writes_nothing_on_either_side(sync_type, make_integration, simulator, organization, paths):
    integration = make_integration(sync_type)
    profile = join(organization, paths["default"], "2025550186", "preview@example.org")
    simulator.clear_request_log()

    run = run_outbound(integration, OutboundOptions(dry_run=True))

    assert run.dry_run and run.status == SyncRun.Status.SUCCEEDED
    assert not luminate_writes(simulator)
    profile.refresh_from_db()
    assert profile.constituent_id is None
    assert [r.category for r in run.records.all()] == ["Created"], "the preview shows what would be sent"
    # Nothing a later run acts on: no queued item, no cursor moved.
    assert not OutboundItem.objects.exists()
    assert not OutboundCursor.objects.filter(integration=integration, last_event_id__gt=0).exists()
    assert run_outbound(integration).records.get().category == "Created"


def test_a_preview_before_activation_sends_nothing_the_administrator_chose_not_to_send(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type, active=False)
    Integration.objects.filter(pk=integration.pk).update(
        last_test_passed=True, tested_config_version=F("config_version")
    )
    earlier = join(organization, paths["default"], "2025550187", "before.activation@example.org")
    call_command("sync", "outbound", "--org", organization.slug, "--dry-run", stdout=io.StringIO())
    integration_services.activate(
        Integration.objects.get(pk=integration.pk),
        integration_services.Actor("test"),
        initial_load=False,
        export_earlier_opt_ins=False,
    )
    after = join(organization, paths["default"], "2025550188", "after.activation@example.org")

    run = run_outbound(integration)

    assert [(record.profile_id, record.category) for record in run.records.all()] == [(after.pk, "Created")]
    assert not simulator.state.find_by_email("before.activation@example.org")
    earlier.refresh_from_db()
    assert earlier.constituent_id is None


def test_queued_consent_from_before_the_activation_start_is_never_sent_but_a_call_is(
    sync_type, make_integration, simulator, organization, paths
):
    integration = make_integration(sync_type)
    cons = simulator.state.add_constituent(primary_email="queued.before@example.org", custom_boolean50=False)
    earlier = join(organization, paths["default"], "2025550189", "queued.before@example.org")
    # As a preview of an earlier version left it: the opt-in queued before the Administrator chose.
    enqueue(load_context(integration))
    skip_events_so_far(integration)
    services.record_call(
        earlier, alert_id="4001", recipient_name="Rep. Stone", started_at=timezone.now(), duration_seconds=9
    )

    run = run_outbound(integration)

    assert categories(run) == ["Updated"], list(run.records.values_list("reason", flat=True))
    assert opt_in_value(simulator, cons) is False, "the earlier opt-in is not sent"
    assert OutboundItem.objects.get(consent_event__isnull=False).status == OutboundItem.Status.PENDING
    # A call is no consent event (the activation's question is about earlier opt-ins): it goes.
    assert [action["contact_name"] for action in simulator.state.actions(cons)] == ["Rep. Stone"]


@pytest.mark.parametrize(
    ("reported_by", "street"), [(Channel.LUMINATE, "9 River St"), (Channel.DONATION_FORM, None)]
)
def test_a_billing_address_fills_luminates_only_when_luminate_recorded_the_gift(
    make_integration, simulator, organization, paths, reported_by, street
):
    integration = make_integration("liberal")
    profile = join(organization, paths["default"], "2025550175", "giver@example.org", first_name="Gia")
    services.record_donation(
        organization,
        transaction_id="T-75",
        amount="20",
        billing_address={"street1": "9 River St", "city": "Albany"},
        profile=profile,
        channel=reported_by,
    )

    run = run_outbound(integration)

    assert categories(run) == ["Created"]
    record = simulator.state.get_constituent(Profile.objects.get(pk=profile.pk).constituent_id)
    assert record.get("primary_address.street1") == street, "a form's report alone is anyone's word"
