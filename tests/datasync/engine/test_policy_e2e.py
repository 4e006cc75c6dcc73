"""Every inbound row of policy.md, end to end: the simulator's nightly file over real FTP, getUser (and
getUserGroups, getUserCenters) over real HTTP, the engine, and the platform's profiles, subscriptions,
messages and report rows. The pure decision function has its own tests (test_policy.py); these prove the
engine feeds it the right inputs and applies what it decides."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from engine_testing import (
    FILE_HEADINGS,
    add,
    called_ids,
    category,
    change,
    luminate_writes,
    publish,
    publish_rows,
    rows,
    sync,
    welcomes,
)

from lumisync.datasync.engine.inbound import CHUNK_SIZE
from lumisync.datasync.models import (
    FieldConflict,
    FieldMapping,
    LinkSnapshot,
    PendingConstituent,
    ProcessedFile,
    SyncRun,
)
from lumisync.datasync.report import resolve_conflict
from lumisync.messaging.models import Message
from lumisync.subscribers import services
from lumisync.subscribers.models import (
    Campaign,
    Channel,
    ConsentEvent,
    Donation,
    OptInPath,
    Profile,
    Subscription,
)

pytestmark = pytest.mark.django_db

BOTH = pytest.mark.parametrize("sync_type", ["liberal", "conservative"])


def linked(cons_id: str) -> Profile:
    return Profile.objects.get(constituent_id=cons_id)


def synced_status(profile: Profile, paths) -> str:
    return Subscription.objects.get(profile=profile, campaign=paths["default"].campaign).status


def web_profile(organization, phone, **fields) -> Profile:
    profile, _ = services.get_or_create_profile(organization, phone, channel=Channel.WEB, **fields)
    return profile


# --- row 1 -----------------------------------------------------------------------------------------------


@BOTH
def test_row1_a_repeated_id_is_processed_once_and_each_donation_recorded_once(
    make_integration, simulator, sync_type
):
    integration = make_integration(sync_type)
    for field, heading in (
        ("donation_transaction_id", "TRANSACTION_ID"),
        ("donation_amount", "DONATION_AMOUNT"),
        ("donation_form_id", "DONATION_FORM_ID"),
    ):
        FieldMapping.objects.filter(integration=integration, field=field).update(csv_heading=heading)
    cons = add(simulator, "giver@example.org", "2025550101")
    headings = (*FILE_HEADINGS, "TRANSACTION_ID", "DONATION_AMOUNT", "DONATION_FORM_ID")
    base = {"CONS_ID": cons, "PRIMARY_EMAIL": "giver@example.org", "MOBILE_PHONE": "2025550101"}
    publish_rows(
        simulator,
        [
            {**base, "TRANSACTION_ID": "T-1", "DONATION_AMOUNT": "25.00", "DONATION_FORM_ID": "3001"},
            {**base, "TRANSACTION_ID": "T-2", "DONATION_AMOUNT": "10.00", "DONATION_FORM_ID": "3001"},
            {**base, "TRANSACTION_ID": "T-1", "DONATION_AMOUNT": "25.00", "DONATION_FORM_ID": "3001"},
        ],
        headings,
    )
    simulator.clear_request_log()

    run = sync(integration)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert called_ids(simulator, "getUser") == [cons], "the repeated ID is read once"
    assert [r.constituent_id for r in run.records.all()] == [cons], "one report row for the constituent"
    assert run.total == 1
    profile = linked(cons)
    gifts = Donation.objects.order_by("transaction_id")
    assert [(g.transaction_id, str(g.amount), g.profile_id) for g in gifts] == [
        ("T-1", "25.00", profile.pk),
        ("T-2", "10.00", profile.pk),
    ]
    assert welcomes(profile) == 1


@BOTH
def test_row1_a_repeat_far_down_the_file_is_merged_into_its_written_chunk(
    make_integration, simulator, sync_type
):
    integration = make_integration(sync_type)
    for field, heading in (
        ("donation_transaction_id", "TRANSACTION_ID"),
        ("donation_amount", "DONATION_AMOUNT"),
    ):
        FieldMapping.objects.filter(integration=integration, field=field).update(csv_heading=heading)
    cons = add(simulator, "early@example.org", "2025550100")
    unknown = [{"CONS_ID": str(9_000_000 + n)} for n in range(CHUNK_SIZE + 20)]
    publish_rows(
        simulator,
        [{"CONS_ID": cons, "TRANSACTION_ID": "T-10", "DONATION_AMOUNT": "5"}, *unknown]
        + [{"CONS_ID": cons, "TRANSACTION_ID": "T-11", "DONATION_AMOUNT": "7"}],
        (*FILE_HEADINGS, "TRANSACTION_ID", "DONATION_AMOUNT"),
    )
    simulator.clear_request_log()

    run = sync(integration)

    assert run.total == CHUNK_SIZE + 21
    assert called_ids(simulator, "getUser").count(cons) == 1
    assert category(run, cons) == "Created"
    assert sorted(Donation.objects.values_list("transaction_id", flat=True)) == ["T-10", "T-11"]
    assert set(Donation.objects.values_list("profile_id", flat=True)) == {linked(cons).pk}


# --- row 2 -----------------------------------------------------------------------------------------------


def _break_api_key(integration):
    integration.api_key = "not-the-key"
    integration.save(update_fields=["api_key"])


def _break_login(integration):
    integration.login_password = "not-the-password"
    integration.save(update_fields=["login_password"])


def _refuse_our_address(integration, simulator):
    simulator.set_allowed_cidrs(["203.0.113.0/24"])


@BOTH
@pytest.mark.parametrize(
    "breaks, mends",
    [
        (lambda i, s: _break_api_key(i), lambda i, s: setattr(i, "api_key", s.api_key)),
        (lambda i, s: _break_login(i), lambda i, s: setattr(i, "login_password", s.login_password)),
        (_refuse_our_address, lambda i, s: s.set_allowed_cidrs(["127.0.0.0/8"])),
    ],
    ids=["api-key", "credentials", "ip-allow-list"],
)
def test_row2_a_run_level_api_failure_writes_nothing_and_the_next_run_does_the_work(
    make_integration, simulator, sync_type, breaks, mends
):
    integration = make_integration(sync_type)
    cons = add(simulator, "first@example.org", "2025550102")
    publish(simulator)
    breaks(integration, simulator)
    simulator.clear_request_log()

    failed = sync(integration)

    assert failed.status == SyncRun.Status.FAILED
    assert failed.error
    assert [r.category for r in failed.records.all()] == ["Validation Error"]
    assert not Profile.objects.exists() and not Message.objects.exists()
    assert not LinkSnapshot.objects.exists()
    assert not luminate_writes(simulator)
    assert simulator.api_key not in failed.error and simulator.login_password not in failed.error

    mends(integration, simulator)
    integration.save()
    again = sync(integration)

    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    assert category(again, cons) == "Created"
    assert welcomes(linked(cons)) == 1


@BOTH
def test_row2_an_unreadable_file_fails_the_run_and_is_read_again_next_night(
    make_integration, simulator, sync_type
):
    integration = make_integration(sync_type)
    cons = add(simulator, "second@example.org", "2025550103")
    publish_rows(simulator, [{"SOMETHING": "1"}], headings=("SOMETHING", "ELSE"))

    failed = sync(integration)

    assert failed.status == SyncRun.Status.FAILED
    assert "CONS_ID" in failed.error or "constituent" in failed.error.lower()
    assert not Profile.objects.exists()
    assert not ProcessedFile.objects.exists(), "the file is not marked processed"

    publish(simulator)
    again = sync(integration)
    assert category(again, cons) == "Created"


@BOTH
def test_row2_file_server_login_refused_fails_the_run(make_integration, simulator, sync_type):
    integration = make_integration(sync_type)
    add(simulator, "third@example.org", "2025550104")
    publish(simulator)
    integration.datasync_password = "wrong"
    integration.save(update_fields=["datasync_password"])

    failed = sync(integration)

    assert failed.status == SyncRun.Status.FAILED
    assert simulator.ftp_password not in failed.error
    assert not Profile.objects.exists() and not ProcessedFile.objects.exists()


# --- rows 3 and 4 ----------------------------------------------------------------------------------------


@BOTH
def test_row3_not_found_changes_nothing_and_keeps_the_link(sync_type, make_integration, simulator, paths):
    integration = make_integration(sync_type)
    cons = add(simulator, "gone@example.org", "2025550105", first="Gone")
    publish(simulator)
    sync(integration)
    profile = linked(cons)
    simulator.state.delete_constituent(cons)
    publish_rows(simulator, [{"CONS_ID": cons, "MOBILE_PHONE": "2025550105"}])

    run = sync(integration)

    row = rows(run)[cons]
    assert row.category == "Processing Error" and "not found" in row.reason
    assert row.profile_id == profile.pk, "the report row points at the linked profile"
    assert linked(cons).pk == profile.pk, "the link is kept"
    assert LinkSnapshot.objects.get(constituent_id=cons).not_found_at is not None, "and flagged"
    assert synced_status(profile, paths) == Subscription.Status.ACTIVE
    assert run.status == SyncRun.Status.PARTIAL


def test_row3_the_flag_goes_when_luminate_finds_the_constituent_again(make_integration, simulator):
    integration = make_integration("liberal")
    cons = add(simulator, "back@example.org", "2025550104")
    publish(simulator)
    sync(integration)
    LinkSnapshot.objects.filter(constituent_id=cons).update(not_found_at=timezone.now())
    change(simulator, cons, **{"name.first": "Back"})
    publish(simulator)

    run = sync(integration)

    assert category(run, cons) == "Updated"
    assert LinkSnapshot.objects.get(constituent_id=cons).not_found_at is None


@BOTH
def test_row4_transient_failure_is_unable_to_update_and_retried_next_run_without_the_file(
    sync_type, make_integration, simulator
):
    integration = make_integration(sync_type)
    cons = add(simulator, "flaky@example.org", "2025550106")
    publish(simulator)
    simulator.faults.inject("getUser", "error", code=1, count=3)

    first = sync(integration)

    assert category(first, cons) == "Unable to Update"
    assert first.status == SyncRun.Status.PARTIAL
    assert not Profile.objects.exists()
    assert PendingConstituent.objects.filter(constituent_id=cons).exists()

    other = add(simulator, "other@example.org", "2025550107")
    publish_rows(simulator, [{"CONS_ID": other, "MOBILE_PHONE": "2025550107"}])
    second = sync(integration)

    assert category(second, cons) == "Created", "retried although the new file lacks it"
    assert category(second, other) == "Created"
    assert not PendingConstituent.objects.exists()
    assert welcomes(linked(cons)) == 1


# --- rows 5 to 9 and 11 ----------------------------------------------------------------------------------


@BOTH
def test_row5_outside_the_configured_centers_is_not_imported(make_integration, simulator, sync_type):
    integration = make_integration(sync_type, center_ids="2001")
    inside = add(simulator, "in@example.org", "2025550108", center_ids="2001")
    outside = add(simulator, "out@example.org", "2025550109", center_ids="2002")
    publish(simulator)

    run = sync(integration)

    assert category(run, inside) == "Created"
    assert category(run, outside) == "No Import" and "2001" in rows(run)[outside].reason
    assert not Profile.objects.filter(constituent_id=outside).exists()


@BOTH
def test_rows6_to_8_no_mobile_bad_mobile_and_no_email_are_not_imported(
    make_integration, simulator, sync_type
):
    integration = make_integration(sync_type)
    no_mobile = add(simulator, "nomobile@example.org", None)
    invalid = add(simulator, "invalid@example.org", "12345")
    fixed = add(simulator, "landline@example.org", "+442079460018")
    no_email = add(simulator, None, "2025550110")
    publish(simulator, mode="full")

    run = sync(integration)

    found = rows(run)
    assert found[no_mobile].category == "No Import" and "No mobile" in found[no_mobile].reason
    assert found[invalid].category == "No Import" and "'12345'" in found[invalid].reason
    assert found[fixed].category == "No Import" and "+442079460018" in found[fixed].reason
    assert found[no_email].category == "No Import" and "email" in found[no_email].reason
    assert not Profile.objects.exists()


@BOTH
def test_row9_conservative_skips_not_opted_in_where_liberal_subscribes(
    make_integration, simulator, paths, sync_type
):
    integration = make_integration(sync_type)
    cons = add(simulator, "maybe@example.org", "2025550111", opted_in=False)
    publish(simulator)

    run = sync(integration)

    if sync_type == "conservative":
        assert category(run, cons) == "No Import" and "not opted in" in rows(run)[cons].reason.lower()
        assert not Profile.objects.exists()
    else:
        assert category(run, cons) == "Created"
        assert synced_status(linked(cons), paths) == Subscription.Status.ACTIVE
        assert run.would_text_without_opt_in == 1


@BOTH
def test_row11_an_empty_required_field_is_named(make_integration, simulator, sync_type):
    integration = make_integration(sync_type)
    FieldMapping.objects.filter(integration=integration, field="profile_last_name").update(required=True)
    cons = add(simulator, "nolast@example.org", "2025550112", last="")
    publish(simulator)

    run = sync(integration)

    assert category(run, cons) == "No Import"
    assert "'last_name'" in rows(run)[cons].reason
    assert not Profile.objects.exists()


# --- row 10 ----------------------------------------------------------------------------------------------


def linked_constituent(make_integration, simulator, email: str, phone: str, sync_type: str):
    """An integration and a constituent that its first run has linked and subscribed."""
    integration = make_integration(sync_type)
    cons = add(simulator, email, phone)
    publish(simulator, mode=sync_type)
    sync(integration)
    return integration, cons


def withdraw_opt_in(simulator, cons: str, mode: str) -> None:
    """The constituent's opt-in turned off in Luminate, and the next night's file published."""
    change(simulator, cons, custom_boolean50=False)
    publish(simulator, mode=mode)


def test_row10_liberal_withdrawal_in_the_file_opts_out_of_the_synced_campaigns(
    make_integration, simulator, paths
):
    integration, cons = linked_constituent(
        make_integration, simulator, "withdraw@example.org", "2025550113", "liberal"
    )
    withdraw_opt_in(simulator, cons, "liberal")

    run = sync(integration)

    row = rows(run)[cons]
    assert row.category == "Updated" and "withdrawn" in row.reason
    profile = linked(cons)
    assert synced_status(profile, paths) == Subscription.Status.OPTED_OUT
    event = ConsentEvent.objects.filter(profile=profile, kind=ConsentEvent.Kind.OPT_OUT).get()
    assert event.channel == Channel.LUMINATE and "withdrawn" in event.source_detail
    assert LinkSnapshot.objects.get(constituent_id=cons).opted_in is False


def test_row10_a_withdrawal_under_a_stop_is_recorded_so_start_does_not_restore_the_campaign(
    make_integration, simulator, paths
):
    integration, cons = linked_constituent(
        make_integration, simulator, "stopped@example.org", "2025550115", "liberal"
    )
    profile = linked(cons)
    services.opt_out(profile, channel=Channel.SMS, actor=profile.phone_number)
    withdraw_opt_in(simulator, cons, "liberal")

    run = sync(integration)

    assert category(run, cons) == "Updated" and "withdrawn" in rows(run)[cons].reason
    withdrawn = ConsentEvent.objects.filter(profile=profile, campaign__isnull=False, channel=Channel.LUMINATE)
    assert withdrawn.filter(kind=ConsentEvent.Kind.OPT_OUT).count() == 1
    profile.refresh_from_db()
    services.restart(profile)
    assert synced_status(profile, paths) == Subscription.Status.OPTED_OUT, "START must not undo the CRM"


def test_row10_conservative_withdrawal_is_caught_by_the_rolling_re_read(make_integration, simulator, paths):
    integration, cons = linked_constituent(
        make_integration, simulator, "quiet@example.org", "2025550114", "conservative"
    )
    withdraw_opt_in(simulator, cons, "conservative")
    simulator.clear_request_log()

    recent = sync(integration)

    assert cons not in rows(recent), "the Conservative file leaves the withdrawn record out"
    assert cons not in called_ids(simulator, "getUser"), "re-read at most every 7 days"
    assert synced_status(linked(cons), paths) == Subscription.Status.ACTIVE

    LinkSnapshot.objects.filter(constituent_id=cons).update(reconciled_at=timezone.now() - timedelta(days=8))
    due = sync(integration)

    assert category(due, cons) == "Updated" and "withdrawn" in rows(due)[cons].reason
    assert synced_status(linked(cons), paths) == Subscription.Status.OPTED_OUT
    assert LinkSnapshot.objects.get(constituent_id=cons).reconciled_at > timezone.now() - timedelta(minutes=5)


def test_row10_the_re_read_spreads_over_the_week(make_integration, simulator):
    integration = make_integration("conservative")
    ids = [add(simulator, f"p{n}@example.org", f"20255502{n:02d}") for n in range(8)]
    publish(simulator, mode="conservative")
    sync(integration)
    LinkSnapshot.objects.update(reconciled_at=timezone.now() - timedelta(days=8))
    simulator.clear_request_log()

    sync(integration)

    assert len(set(called_ids(simulator, "getUser")) & set(ids)) == 2, "ceil(8 / 7) per night"


# --- rows 12 and 22 --------------------------------------------------------------------------------------


@BOTH
def test_row12_a_mobile_number_of_a_profile_linked_elsewhere_is_skipped(
    make_integration, simulator, sync_type
):
    integration = make_integration(sync_type)
    first = add(simulator, "owner@example.org", "2025550115", first="Owner")
    publish(simulator)
    sync(integration)
    second = add(simulator, "claimer@example.org", "2025550115", first="Claimer")
    publish_rows(simulator, [{"CONS_ID": second, "MOBILE_PHONE": "2025550115"}])

    run = sync(integration)

    assert category(run, second) == "Skipped Members"
    assert first in rows(run)[second].reason
    profile = linked(first)
    assert profile.first_name == "Owner" and Profile.objects.count() == 1


def test_row12_a_linked_constituent_moving_to_a_number_linked_elsewhere_is_skipped(
    make_integration, simulator
):
    integration = make_integration("liberal")
    one = add(simulator, "one@example.org", "2025550116")
    two = add(simulator, "two@example.org", "2025550117")
    publish(simulator)
    sync(integration)
    change(simulator, one, mobile_phone="2025550117")
    publish(simulator)

    run = sync(integration)

    assert category(run, one) == "Skipped Members"
    assert linked(one).phone_number == "+12025550116"
    assert linked(two).phone_number == "+12025550117"


@BOTH
def test_two_records_claiming_one_number_the_newest_wins_whatever_the_order(
    make_integration, simulator, sync_type
):
    integration = make_integration(sync_type)
    touched_last = add(simulator, "a@example.org", "2025550118", first="Older")
    added_last = add(simulator, "b@example.org", "2025550118", first="Newer")
    change(simulator, touched_last, **{"name.first": "Newest"})
    publish(simulator)

    run = sync(integration)

    assert category(run, touched_last) == "Created"
    assert category(run, added_last) == "Skipped Members"
    assert Profile.objects.get().first_name == "Newest"


@BOTH
@pytest.mark.parametrize("older_first", [True, False])
def test_two_records_claiming_one_number_in_different_chunks_the_newest_wins(
    make_integration, simulator, sync_type, older_first
):
    integration = make_integration(sync_type)
    older = add(simulator, "older@example.org", "2025550118", first="Older")
    newer = add(simulator, "newer@example.org", "2025550118", first="Newer")
    filler = [{"CONS_ID": str(9_000_000 + n)} for n in range(CHUNK_SIZE)]
    first, last = (older, newer) if older_first else (newer, older)
    publish_rows(simulator, [{"CONS_ID": first}, *filler, {"CONS_ID": last}])

    run = sync(integration)

    assert category(run, older) == "Skipped Members" and newer in rows(run)[older].reason
    assert category(run, newer) in ("Created", "Updated")
    profile = Profile.objects.get()
    assert (profile.constituent_id, profile.first_name) == (newer, "Newer")
    assert run.counts.get("Skipped Members") == 1
    assert run.counts.get("Created", 0) + run.counts.get("Updated", 0) == 1
    assert sum(run.counts.values()) == run.total == CHUNK_SIZE + 2
    assert welcomes(profile) == 1


ORDERS = pytest.mark.parametrize("order", ["same-chunk", "holder-first", "claimer-first"])


def holder_and_claimer_rows(holder: str, claimer: str, order: str) -> list[dict[str, str]]:
    """The two records in one chunk, or a chunk apart in either order."""
    if order == "same-chunk":
        return [{"CONS_ID": holder}, {"CONS_ID": claimer}]
    filler = [{"CONS_ID": str(9_000_000 + n)} for n in range(CHUNK_SIZE)]
    first, last = (holder, claimer) if order == "holder-first" else (claimer, holder)
    return [{"CONS_ID": first}, *filler, {"CONS_ID": last}]


@BOTH
@ORDERS
def test_row12_a_number_linked_before_the_run_stays_with_its_holder_whatever_the_order(
    make_integration, simulator, sync_type, order
):
    integration = make_integration(sync_type)
    holder = add(simulator, "holder@example.org", "2025550121", first="Holder")
    publish(simulator)
    sync(integration)
    change(simulator, holder, **{"name.first": "Still"})
    claimer = add(simulator, "claimer@example.org", "2025550121", first="Claimer")
    publish_rows(simulator, holder_and_claimer_rows(holder, claimer, order))

    run = sync(integration)

    assert category(run, holder) == "Updated"
    assert category(run, claimer) == "Skipped Members" and holder in rows(run)[claimer].reason
    profile = Profile.objects.get(phone_number="+12025550121")
    assert (profile.constituent_id, profile.first_name) == (holder, "Still")
    assert LinkSnapshot.objects.get(constituent_id=holder).profile == profile
    assert not LinkSnapshot.objects.filter(constituent_id=claimer).exists()
    assert welcomes(profile) == 1


@BOTH
@ORDERS
def test_row12_a_number_its_holder_moves_off_stays_held_until_the_run_ends(
    make_integration, simulator, sync_type, paths, order
):
    integration = make_integration(sync_type)
    holder = add(simulator, "holder@example.org", "2025550122")
    publish(simulator)
    sync(integration)
    old = linked(holder)
    change(simulator, holder, mobile_phone="2025550123")
    claimer = add(simulator, "claimer@example.org", "2025550122")
    publish_rows(simulator, holder_and_claimer_rows(holder, claimer, order))

    run = sync(integration)

    assert category(run, holder) == "Created" and linked(holder).phone_number == "+12025550123"
    assert category(run, claimer) == "Skipped Members" and holder in rows(run)[claimer].reason
    old.refresh_from_db()
    assert old.constituent_id is None
    assert synced_status(old, paths) == Subscription.Status.OPTED_OUT
    publish_rows(simulator, [{"CONS_ID": claimer}])
    next_night = sync(integration)
    assert category(next_night, claimer) == "Updated" and linked(claimer) == old


@BOTH
def test_row22_a_moved_number_moves_the_link_and_opts_the_old_number_out(
    make_integration, simulator, paths, sync_type
):
    integration = make_integration(sync_type)
    cons = add(simulator, "mover@example.org", "2025550119")
    publish(simulator)
    sync(integration)
    old = linked(cons)
    change(simulator, cons, mobile_phone="2025550120")
    publish(simulator)

    run = sync(integration)

    row = rows(run)[cons]
    assert row.category == "Created"
    assert "+12025550119" in row.reason and "+12025550120" in row.reason
    assert row.moved_from_profile == old, "the old number's profile keeps this run in its history"
    new = linked(cons)
    assert new.phone_number == "+12025550120" and new.pk != old.pk
    old.refresh_from_db()
    assert old.constituent_id is None
    assert synced_status(old, paths) == Subscription.Status.OPTED_OUT
    assert synced_status(new, paths) == Subscription.Status.ACTIVE
    assert welcomes(new) == 1 and welcomes(old) == 1


# --- row 13 ----------------------------------------------------------------------------------------------


@BOTH
def test_row13_not_modified_since_the_snapshot_is_no_new_changes(make_integration, simulator, sync_type):
    integration = make_integration(sync_type)
    cons = add(simulator, "same@example.org", "2025550121")
    publish(simulator)
    sync(integration)
    add(simulator, "newcomer@example.org", "2025550122")
    publish(simulator)

    run = sync(integration)

    assert category(run, cons) == "No New Changes"


# --- rows 14 to 16 ---------------------------------------------------------------------------------------


@BOTH
def test_row14_group_mapping_first_match_and_groups_read_only_for_records_to_subscribe(
    make_integration, simulator, paths, sync_type
):
    integration = make_integration(sync_type)
    integration.group_paths.create(group_id="1003", opt_in_path=paths["donors"], position=0)
    integration.group_paths.create(group_id="1002", opt_in_path=paths["default"], position=1)
    both = add(simulator, "both@example.org", "2025550123", group_ids="1002,1003")
    volunteer = add(simulator, "vol@example.org", "2025550124", group_ids="1002")
    nogroup = add(simulator, "none@example.org", "2025550125")
    declined = add(simulator, "declined@example.org", "2025550126", opted_in=False, group_ids="1003")
    publish(simulator)
    simulator.clear_request_log()

    run = sync(integration)

    sub = Subscription.objects.get(profile=linked(both))
    assert sub.opt_in_path == paths["donors"], "the first mapping in order wins"
    assert Subscription.objects.get(profile=linked(volunteer)).opt_in_path == paths["default"]
    assert Subscription.objects.get(profile=linked(nogroup)).opt_in_path == paths["default"]
    for cons in (both, volunteer, nogroup):
        assert category(run, cons) == "Created"
        assert welcomes(linked(cons)) == 1
    asked = set(called_ids(simulator, "getUserGroups"))
    if sync_type == "conservative":
        assert category(run, declined) == "No Import"
        assert asked == {both, volunteer, nogroup}, "getUserGroups only for records about to be subscribed"
    else:
        assert asked == {both, volunteer, nogroup, declined}
    assert linked(both).source == Channel.LUMINATE


@BOTH
def test_row15_no_path_creates_the_profile_unsubscribed(make_integration, simulator, sync_type):
    integration = make_integration(sync_type, default_opt_in_path=None)
    cons = add(simulator, "nopath@example.org", "2025550127")
    publish(simulator)

    run = sync(integration)

    row = rows(run)[cons]
    assert row.category == "Created" and "Not subscribed" in row.reason
    assert not Subscription.objects.filter(profile=linked(cons)).exists()
    assert not Message.objects.exists()


@BOTH
def test_row16_a_path_asking_for_yes_defers_the_subscription(make_integration, simulator, paths, sync_type):
    integration = make_integration(sync_type, default_opt_in_path=paths["confirm"])
    cons = add(simulator, "confirm@example.org", "2025550128")
    publish(simulator)

    run = sync(integration)

    assert category(run, cons) == "Deferred Subscription"
    profile = linked(cons)
    sub = Subscription.objects.get(profile=profile)
    assert sub.status == Subscription.Status.PENDING
    assert list(Message.objects.values_list("kind", flat=True)) == [Message.Kind.CONFIRMATION]

    services.confirm(profile)
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.ACTIVE and welcomes(profile) == 1


def test_row16_a_preview_counts_a_yes_prompt_to_someone_without_an_opt_in_as_a_text(
    make_integration, simulator, paths
):
    integration = make_integration("liberal", default_opt_in_path=paths["confirm"])
    add(simulator, "asked@example.org", "2025550129", opted_in=False)
    add(simulator, "willing@example.org", "2025550130")
    publish(simulator)

    preview = sync(integration, dry_run=True)

    assert preview.counts == {"Deferred Subscription": 2}
    assert preview.would_text_without_opt_in == 1


# --- rows 17 to 19 ---------------------------------------------------------------------------------------


@BOTH
def test_row17_and_18_equal_values_are_no_difference_changed_ones_updated(
    make_integration, simulator, sync_type
):
    integration = make_integration(sync_type)
    same = add(simulator, "nodiff@example.org", "2025550129")
    changed = add(simulator, "changed@example.org", "2025550130", first="Old")
    publish(simulator)
    sync(integration)
    change(simulator, same, home_phone="2025550199")
    change(simulator, changed, **{"name.first": "New", "primary_address.city": "Austin"})
    publish(simulator)

    run = sync(integration)

    assert category(run, same) == "No Difference"
    row = rows(run)[changed]
    assert row.category == "Updated" and "first_name" in row.reason
    assert row.changes["first_name"] == ["Old", "New"]
    profile = linked(changed)
    assert (profile.first_name, profile.city) == ("New", "Austin")
    assert welcomes() == 2, "an update sends no second welcome"


@BOTH
def test_row19_a_field_changed_on_both_sides_is_held_and_resolved_from_the_report(
    sync_type, make_integration, simulator
):
    integration = make_integration(sync_type)
    cons = add(simulator, "conflict@example.org", "2025550131", first="Pat", last="Lee")
    publish(simulator)
    sync(integration)
    profile = linked(cons)
    services.update_profile_fields(profile, first_name="Patricia")
    change(simulator, cons, **{"name.first": "Patty", "name.last": "Leigh"})
    publish(simulator)

    run = sync(integration)

    assert category(run, cons) == "Field Conflict"
    profile.refresh_from_db()
    assert profile.first_name == "Patricia", "the held field is not written"
    assert profile.last_name == "Leigh", "the other fields apply"
    conflict = FieldConflict.objects.get()
    assert (conflict.field, conflict.ours, conflict.theirs) == ("first_name", "Patricia", "Patty")

    resolve_conflict(conflict, take_luminate=True, actor="admin")

    profile.refresh_from_db()
    assert profile.first_name == "Patty"
    change(simulator, cons, home_phone="2025550198")
    publish(simulator)
    after = sync(integration)
    assert category(after, cons) == "No Difference"
    assert FieldConflict.objects.count() == 1


@pytest.mark.parametrize("holder_first", [True, False])
def test_row19_a_held_conflict_stays_with_the_holder_when_a_newer_record_claims_its_number(
    make_integration, simulator, holder_first
):
    integration = make_integration("liberal")
    older = add(simulator, "older@example.org", "2025550134", first="Pat")
    publish(simulator)
    sync(integration)
    profile = linked(older)
    services.update_profile_fields(profile, first_name="Patricia")
    change(simulator, older, **{"name.first": "Patty"})
    newer = add(simulator, "newer@example.org", "2025550134", first="Sam")
    filler = [{"CONS_ID": str(9_000_000 + n)} for n in range(CHUNK_SIZE)]
    first, last = (older, newer) if holder_first else (newer, older)
    publish_rows(simulator, [{"CONS_ID": first}, *filler, {"CONS_ID": last}])

    run = sync(integration)

    assert category(run, older) == "Field Conflict" and linked(older) == profile
    assert category(run, newer) == "Skipped Members" and older in rows(run)[newer].reason
    assert FieldConflict.objects.filter(profile=profile, constituent_id=older).count() == 1


def edited_on_both_sides(integration, simulator, email: str, phone: str) -> str:
    """A linked constituent whose first name, Pat at the last sync, became Patricia on the platform and
    Patty in Luminate (not published yet)."""
    cons = add(simulator, email, phone, first="Pat")
    publish(simulator)
    sync(integration)
    services.update_profile_fields(linked(cons), first_name="Patricia")
    change(simulator, cons, **{"name.first": "Patty"})
    return cons


def test_row19_keeping_ours_is_not_overwritten_by_the_next_run(make_integration, simulator):
    integration = make_integration("liberal")
    cons = edited_on_both_sides(integration, simulator, "keep@example.org", "2025550132")
    profile = linked(cons)
    publish(simulator)
    sync(integration)

    resolve_conflict(FieldConflict.objects.get(), take_luminate=False, actor="admin")
    change(simulator, cons, home_phone="2025550197")
    publish(simulator)
    after = sync(integration)

    profile.refresh_from_db()
    assert profile.first_name == "Patricia"
    assert category(after, cons) == "No Difference"


@pytest.mark.parametrize(
    ("luminate_next", "still_held"), [("Pattie", "Pattie"), ("Patricia", None)], ids=["changed", "agrees"]
)
def test_row19_a_conflict_left_open_is_replaced_by_the_next_comparison(
    make_integration, simulator, luminate_next, still_held
):
    integration = make_integration("liberal")
    cons = edited_on_both_sides(integration, simulator, "twice@example.org", "2025550133")
    publish(simulator)
    sync(integration)
    change(simulator, cons, **{"name.first": luminate_next})
    publish(simulator)

    second = sync(integration)

    open_now = FieldConflict.objects.filter(resolution=FieldConflict.Resolution.OPEN)
    assert [(c.field, c.theirs) for c in open_now] == ([("first_name", still_held)] if still_held else [])
    earlier = FieldConflict.objects.get(theirs="Patty")
    assert earlier.resolution == FieldConflict.Resolution.SUPERSEDED
    assert earlier.resolved_by == f"Luminate sync run {second.pk}"
    assert linked(cons).first_name == "Patricia", "nothing is written while the field is held"


def test_row19_luminate_wins_policy_applies_without_holding(make_integration, simulator):
    integration = make_integration("liberal", conflict_policy="luminate_wins")
    cons = edited_on_both_sides(integration, simulator, "wins@example.org", "2025550133")
    publish(simulator)

    run = sync(integration)

    assert category(run, cons) == "Updated"
    assert linked(cons).first_name == "Patty"
    assert not FieldConflict.objects.exists()


@BOTH
def test_row19_platform_wins_policy_keeps_ours_without_holding(make_integration, simulator, sync_type):
    integration = make_integration(sync_type, conflict_policy="platform_wins")
    cons = edited_on_both_sides(integration, simulator, "ours@example.org", "2025550135")
    publish(simulator)

    run = sync(integration)
    change(simulator, cons, **{"name.last": "Lee-Smith"})
    publish(simulator)
    after = sync(integration)

    assert category(run, cons) != "Field Conflict" and not FieldConflict.objects.exists()
    assert (linked(cons).first_name, linked(cons).last_name) == ("Patricia", "Lee-Smith")
    assert "first_name" not in rows(after)[cons].changes, "Luminate's older change is not raised again"


@pytest.mark.parametrize(("platform_edit", "first_name"), [("later", "Patricia"), ("earlier", "Patty")])
def test_row19_newest_wins_policy_takes_the_later_edit(
    make_integration, simulator, platform_edit, first_name
):
    integration = make_integration("liberal", conflict_policy="newest_wins")
    cons = edited_on_both_sides(integration, simulator, "newest@example.org", "2025550136")
    edited_in_luminate = simulator.clock.now()
    offset = timedelta(hours=1) if platform_edit == "later" else -timedelta(hours=1)
    Profile.objects.filter(constituent_id=cons).update(updated_at=edited_in_luminate + offset)
    publish(simulator)

    run = sync(integration)

    assert category(run, cons) != "Field Conflict" and not FieldConflict.objects.exists()
    assert linked(cons).first_name == first_name


# --- rows 20 and 21 --------------------------------------------------------------------------------------


@BOTH
def test_row20_an_existing_profile_in_no_synced_campaign_is_linked_and_subscribed(
    make_integration, simulator, organization, paths, sync_type
):
    integration = make_integration(sync_type)
    other = Campaign.objects.create(organization=organization, name="Local events")
    path = OptInPath.objects.create(organization=organization, campaign=other, name="Events")
    elsewhere = web_profile(organization, "2025550134")
    services.opt_in(elsewhere, path, channel=Channel.WEB)
    bare = web_profile(organization, "2025550135", first_name="Bare")
    a = add(simulator, "else@example.org", "2025550134")
    b = add(simulator, "bare@example.org", "2025550135", first="Bare")
    publish(simulator)

    run = sync(integration)

    for cons, profile in ((a, elsewhere), (b, bare)):
        assert category(run, cons) == "Updated"
        assert linked(cons).pk == profile.pk
        assert synced_status(profile, paths) == Subscription.Status.ACTIVE
        assert welcomes(profile) == 1
    again = sync(integration)
    assert again.total == 0 and welcomes() == 2


@BOTH
def test_row21_a_number_opted_out_on_the_platform_is_never_re_subscribed(
    make_integration, simulator, organization, paths, sync_type
):
    integration = make_integration(sync_type)
    stopped = web_profile(organization, "2025550136")
    services.opt_in(stopped, paths["default"], channel=Channel.WEB)
    services.opt_out(stopped, channel=Channel.SMS, source_detail="STOP")
    left = web_profile(organization, "2025550137")
    services.opt_in(left, paths["default"], channel=Channel.WEB)
    services.opt_out(left, paths["default"].campaign, channel=Channel.WEB)
    a = add(simulator, "stopped@example.org", "2025550136", first="Stopped")
    b = add(simulator, "left@example.org", "2025550137", first="Left")
    publish(simulator)
    before = Message.objects.count()

    run = sync(integration)

    for cons, profile in ((a, stopped), (b, left)):
        row = rows(run)[cons]
        assert row.category in ("Updated", "No Difference")
        assert "never re-subscribed" in row.reason
        assert synced_status(profile, paths) == Subscription.Status.OPTED_OUT
    stopped.refresh_from_db()
    assert stopped.is_globally_opted_out and stopped.first_name == "Stopped", "fields may update"
    assert Message.objects.count() == before, "no welcome, no prompt"
    assert not ConsentEvent.objects.filter(channel=Channel.LUMINATE, kind=ConsentEvent.Kind.OPT_IN).exists()
