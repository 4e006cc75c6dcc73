"""Each inbound row of policy.md against the pure decision function."""

from datetime import UTC, datetime, timedelta

import pytest

from lumisync.datasync.engine.policy import (
    Category,
    Existing,
    Incoming,
    PathChoice,
    Rules,
    Snapshot,
    decide,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WEB_PATH = PathChoice(7, "Website sign-up", requires_confirmation=False)
CONFIRM_PATH = PathChoice(8, "Confirm first", requires_confirmation=True)
LIBERAL = Rules("liberal")
CONSERVATIVE = Rules("conservative")
BASE_FIELDS = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.org", "city": "Austin"}


def incoming(**overrides) -> Incoming:
    values = {
        "cons_id": "1001",
        "fields": dict(BASE_FIELDS),
        "phone_raw": "2025550143",
        "phone": "+12025550143",
        "phone_problem": None,
        "opted_in": True,
        "modified_at": T0,
    }
    values.update(overrides)
    return Incoming(**values)


def existing(**overrides) -> Existing:
    values = {
        "profile_id": 1,
        "constituent_id": "1001",
        "phone": "+12025550143",
        "fields": dict(BASE_FIELDS),
        "opted_out_globally": False,
        "synced_status": "active",
        "updated_at": T0 - timedelta(days=2),
    }
    values.update(overrides)
    return Existing(**values)


def snapshot(**overrides) -> Snapshot:
    values = {
        "fields": dict(BASE_FIELDS),
        "opted_in": True,
        "phone": "+12025550143",
        "modified_at": T0 - timedelta(days=1),
    }
    values.update(overrides)
    return Snapshot(**values)


def run(rules=LIBERAL, record=None, *, by_link=None, by_phone=None, snap=None, path=WEB_PATH):
    asked = []

    def path_for():
        asked.append(True)
        return path

    decision = decide(
        rules, record or incoming(), by_link=by_link, by_phone=by_phone, snapshot=snap, path_for=path_for
    )
    decision.path_asked = bool(asked)
    return decision


@pytest.mark.parametrize("rules", [LIBERAL, CONSERVATIVE])
def test_row5_outside_configured_centers_is_not_imported(rules):
    rules = Rules(rules.sync_type, center_ids=frozenset({"12", "14"}))
    decision = run(rules, incoming(centers=frozenset({"99"})))
    assert decision.category == Category.NO_IMPORT
    assert "12, 14" in decision.reason
    assert not decision.writes
    assert run(rules, incoming(centers=frozenset({"14"}))).category == Category.CREATED


def test_row6_no_mobile_number():
    decision = run(record=incoming(phone_raw="", phone=None))
    assert (decision.category, decision.writes) == (Category.NO_IMPORT, False)
    assert "No mobile number" in decision.reason


def test_row7_invalid_or_fixed_line_number_quotes_the_value():
    record = incoming(
        phone_raw="12345", phone=None, phone_problem="The mobile number '12345' is not a valid US number."
    )
    decision = run(record=record)
    assert decision.category == Category.NO_IMPORT
    assert "'12345'" in decision.reason


def test_row8_no_email():
    decision = run(record=incoming(fields={**BASE_FIELDS, "email": ""}))
    assert decision.category == Category.NO_IMPORT
    assert "email" in decision.reason


def test_row9_conservative_requires_opt_in_and_liberal_does_not():
    record = incoming(opted_in=False)
    assert run(CONSERVATIVE, record).category == Category.NO_IMPORT
    assert "Not opted in" in run(CONSERVATIVE, record).reason
    liberal = run(LIBERAL, record)
    assert liberal.category == Category.CREATED
    assert liberal.subscribe_path == WEB_PATH


@pytest.mark.parametrize("rules", [LIBERAL, CONSERVATIVE])
def test_row10_withdrawn_opt_in_opts_out_in_both_sync_types(rules):
    profile = existing()
    decision = run(rules, incoming(opted_in=False), by_link=profile, by_phone=profile, snap=snapshot())
    assert decision.category == Category.UPDATED
    assert decision.withdraw_profile_id == profile.profile_id
    assert decision.subscribe_path is None
    assert "withdrawn" in decision.reason
    assert decision.next_snapshot.opted_in is False


def test_row10_withdrawal_wins_even_when_the_record_is_otherwise_not_importable():
    profile = existing()
    record = incoming(opted_in=False, phone_raw="", phone=None)
    decision = run(CONSERVATIVE, record, by_link=profile, by_phone=None, snap=snapshot())
    assert decision.withdraw_profile_id == profile.profile_id
    assert not decision.field_changes


def test_row10_does_not_apply_without_a_true_snapshot():
    profile = existing(synced_status="never")
    decision = run(
        CONSERVATIVE,
        incoming(opted_in=False),
        by_link=profile,
        by_phone=profile,
        snap=snapshot(opted_in=False),
    )
    assert decision.category == Category.NO_IMPORT


def test_row11_required_field_empty_names_the_field():
    rules = Rules("liberal", required_fields=frozenset({"city"}))
    decision = run(rules, incoming(fields={**BASE_FIELDS, "city": ""}))
    assert decision.category == Category.NO_IMPORT
    assert "'city'" in decision.reason


def test_row12_number_belongs_to_a_profile_linked_to_another_constituent():
    other = existing(profile_id=2, constituent_id="2002")
    decision = run(by_link=None, by_phone=other)
    assert decision.category == Category.SKIPPED_MEMBERS
    assert "2002" in decision.reason
    assert not decision.writes


def test_row12_link_and_number_point_at_two_linked_profiles():
    linked = existing(phone="+12025550100")
    other = existing(profile_id=2, constituent_id="2002")
    decision = run(by_link=linked, by_phone=other, snap=snapshot())
    assert decision.category == Category.SKIPPED_MEMBERS


def test_row13_not_newer_than_snapshot_is_no_new_changes():
    profile = existing()
    decision = run(
        record=incoming(modified_at=T0), by_link=profile, by_phone=profile, snap=snapshot(modified_at=T0)
    )
    assert decision.category == Category.NO_NEW_CHANGES
    assert not decision.writes


def test_row14_creates_links_and_subscribes_through_the_chosen_path():
    decision = run()
    assert decision.category == Category.CREATED
    assert decision.create and decision.link
    assert decision.subscribe_path == WEB_PATH
    assert decision.field_changes["first_name"] == ("", "Jane")
    assert decision.next_snapshot.fields["city"] == "Austin"


def test_row14_conservative_subscribes_only_opted_in():
    assert run(CONSERVATIVE).subscribe_path == WEB_PATH


def test_row15_created_without_a_path():
    decision = run(path=None)
    assert decision.category == Category.CREATED
    assert decision.subscribe_path is None
    assert "no default opt-in path" in decision.reason


def test_row16_confirmation_path_defers_the_subscription():
    decision = run(path=CONFIRM_PATH)
    assert decision.category == Category.DEFERRED_SUBSCRIPTION
    assert decision.subscribe_path == CONFIRM_PATH


def test_row16_also_for_an_existing_profile_never_subscribed():
    profile = existing(synced_status="never")
    decision = run(
        by_link=profile, by_phone=profile, snap=snapshot(), record=incoming(modified_at=T0), path=CONFIRM_PATH
    )
    assert decision.category == Category.DEFERRED_SUBSCRIPTION


def test_row17_equal_values_make_no_difference():
    profile = existing()
    decision = run(by_link=profile, by_phone=profile, snap=snapshot())
    assert decision.category == Category.NO_DIFFERENCE
    assert not decision.writes
    assert not decision.path_asked


def test_row18_fields_changed_only_in_luminate_are_updated():
    profile = existing()
    record = incoming(fields={**BASE_FIELDS, "city": "Dallas"})
    decision = run(record=record, by_link=profile, by_phone=profile, snap=snapshot())
    assert decision.category == Category.UPDATED
    assert decision.field_changes == {"city": ("Austin", "Dallas")}
    assert "city" in decision.reason


def test_row18_a_field_changed_only_on_the_platform_is_kept():
    profile = existing(fields={**BASE_FIELDS, "city": "Houston"})
    decision = run(by_link=profile, by_phone=profile, snap=snapshot())
    assert decision.category == Category.NO_DIFFERENCE
    assert decision.next_snapshot.fields["city"] == "Austin"


def test_row19_both_sides_changed_is_held_as_a_conflict_and_other_fields_apply():
    profile = existing(fields={**BASE_FIELDS, "city": "Houston"})
    record = incoming(fields={**BASE_FIELDS, "city": "Dallas", "last_name": "Smith"})
    decision = run(record=record, by_link=profile, by_phone=profile, snap=snapshot())
    assert decision.category == Category.FIELD_CONFLICT
    assert decision.held_conflicts == {"city": ("Houston", "Dallas")}
    assert decision.field_changes == {"last_name": ("Doe", "Smith")}
    assert decision.next_snapshot.fields["city"] == "Austin"
    assert "Houston" in decision.reason and "Dallas" in decision.reason


@pytest.mark.parametrize(
    ("policy", "updated_at", "expected"),
    [
        ("luminate_wins", T0 - timedelta(days=3), {"city": ("Houston", "Dallas")}),
        ("platform_wins", T0 - timedelta(days=3), {}),
        ("newest_wins", T0 - timedelta(hours=1), {"city": ("Houston", "Dallas")}),
        ("newest_wins", T0 + timedelta(hours=1), {}),
    ],
)
def test_row19_optional_conflict_policies(policy, updated_at, expected):
    rules = Rules("liberal", conflict_policy=policy)
    profile = existing(fields={**BASE_FIELDS, "city": "Houston"}, updated_at=updated_at)
    record = incoming(fields={**BASE_FIELDS, "city": "Dallas"})
    decision = run(rules, record, by_link=profile, by_phone=profile, snap=snapshot())
    assert decision.held_conflicts == {}
    assert decision.field_changes == expected


@pytest.mark.parametrize(
    ("rules", "opted_in", "subscribed"), [(LIBERAL, False, True), (CONSERVATIVE, True, True)]
)
def test_row20_matched_profile_never_in_a_synced_campaign_is_subscribed(rules, opted_in, subscribed):
    profile = existing(constituent_id=None, synced_status="never")
    decision = run(rules, incoming(opted_in=opted_in), by_link=None, by_phone=profile)
    assert decision.category == Category.UPDATED
    assert decision.link
    assert (decision.subscribe_path is not None) is subscribed


def test_first_link_fills_from_luminate_but_never_blanks_the_profile():
    profile = existing(constituent_id=None, fields={**BASE_FIELDS, "city": "Houston", "state": "TX"})
    record = incoming(fields={**BASE_FIELDS, "city": "Dallas", "state": ""})
    decision = run(record=record, by_link=None, by_phone=profile)
    assert decision.field_changes == {"city": ("Houston", "Dallas")}


@pytest.mark.parametrize(
    ("status", "globally"), [("opted_out", False), ("opted_out", True), ("active", True)]
)
def test_row21_opted_out_profile_gets_field_updates_but_is_never_resubscribed(status, globally):
    profile = existing(synced_status=status, opted_out_globally=globally)
    record = incoming(fields={**BASE_FIELDS, "city": "Dallas"})
    decision = run(record=record, by_link=profile, by_phone=profile, snap=snapshot())
    assert decision.subscribe_path is None
    assert not decision.path_asked
    assert decision.category == Category.UPDATED
    assert "never re-subscribed" in decision.reason
    unchanged = run(by_link=profile, by_phone=profile, snap=snapshot())
    assert unchanged.category == Category.NO_DIFFERENCE
    assert "never re-subscribed" in unchanged.reason


def test_row22_moved_number_moves_the_link_to_a_new_profile_and_opts_out_the_old():
    old = existing(phone="+12025550100")
    decision = run(by_link=old, by_phone=None, snap=snapshot(phone="+12025550100"))
    assert decision.category == Category.CREATED
    assert decision.create and decision.link
    assert decision.unlink_profile_id == old.profile_id
    assert decision.withdraw_profile_id == old.profile_id
    assert "+12025550100" in decision.reason and "+12025550143" in decision.reason
    assert decision.subscribe_path == WEB_PATH


def test_row22_moved_number_onto_an_unlinked_existing_profile():
    old = existing(phone="+12025550100")
    new = existing(profile_id=2, constituent_id=None, synced_status="never")
    decision = run(by_link=old, by_phone=new, snap=snapshot(phone="+12025550100"))
    assert decision.category == Category.UPDATED
    assert decision.profile_id == 2 and decision.link
    assert decision.unlink_profile_id == old.profile_id
