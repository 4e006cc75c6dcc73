"""SRConsAPI behaviour: lookups, writes, defaults, interactions and group membership."""

from __future__ import annotations

import pytest

from .wire import body, error_code


def test_cons_id_beats_a_conflicting_email(sim, api, email_factory):
    a = sim.state.add_constituent(primary_email=email_factory())
    b_email = email_factory()
    sim.state.add_constituent(primary_email=b_email)
    assert body(api("getUser", cons_id=a, primary_email=b_email), "getConsResponse")["cons_id"] == a


def test_unknown_cons_id_is_16_even_with_a_matching_email(sim, api, email_factory):
    email = email_factory()
    sim.state.add_constituent(primary_email=email)
    assert error_code(api("getUser", cons_id="9999999", primary_email=email)) == "16"


def test_member_id_is_used_before_email(sim, api, email_factory):
    a = sim.state.add_constituent(primary_email=email_factory(), member_id="EXT-1")
    b_email = email_factory()
    sim.state.add_constituent(primary_email=b_email)
    assert body(api("getUser", member_id="EXT-1", primary_email=b_email), "getConsResponse")["cons_id"] == a


def test_member_id_without_match_falls_through_to_email(sim, api, email_factory):
    email = email_factory()
    cons_id = sim.state.add_constituent(primary_email=email)
    assert (
        body(api("getUser", member_id="NO-SUCH", primary_email=email), "getConsResponse")["cons_id"]
        == cons_id
    )
    assert error_code(api("getUser", member_id="NO-SUCH")) == "16"


def test_member_id_matching_several_is_8(sim, api, email_factory):
    sim.state.add_constituent(primary_email=email_factory(), member_id="SHARED-M")
    sim.state.add_constituent(primary_email=email_factory(), member_id="SHARED-M")
    assert error_code(api("getUser", member_id="SHARED-M")) == "8"


def test_email_lookup_ignores_case_and_is_stored_lower_case(sim, api):
    cons_id = sim.state.add_constituent(primary_email="Mixed.Case@Example.ORG")
    assert sim.state.get_constituent(cons_id)["primary_email"] == "mixed.case@example.org"
    found = body(api("getUser", primary_email="MIXED.case@example.org"), "getConsResponse")
    assert found["cons_id"] == cons_id
    assert found["email"]["primary_address"] == "mixed.case@example.org"


def test_seeded_records_are_found_by_email(sim, api):
    cons_id = next(c for c in sim.state.seeded_ids(50) if sim.state.get_constituent(c)["primary_email"])
    email = sim.state.get_constituent(cons_id)["primary_email"]
    assert sim.state.find_by_email(email.upper()) == [cons_id]
    assert body(api("getUser", primary_email=email.upper()), "getConsResponse")["cons_id"] == cons_id


def test_unknown_email_is_16_and_shared_email_is_8_or_15_on_update(sim, api, email_factory):
    assert error_code(api("getUser", primary_email=email_factory())) == "16"
    email = email_factory()
    sim.state.add_constituent(primary_email=email)
    sim.state.add_constituent(primary_email=email)
    assert error_code(api("getUser", primary_email=email)) == "8"
    assert error_code(api("update", primary_email=email, **{"name.first": "X"})) == "15"
    assert error_code(api("createOrUpdate", primary_email=email)) == "15"


@pytest.mark.parametrize(("no_welcome", "detail"), [(None, 2), ("false", 2), ("true", 1)])
def test_create_applies_luminate_defaults(sim, api, email_factory, no_welcome, detail):
    before = sim.clock.now()
    response = api(
        "create",
        primary_email=email_factory(),
        no_welcome=no_welcome,
        source="mcommons",
        **{"name.first": "Ada", "custom_boolean50": "true", "add_group_ids": "1002"},
    )
    cons_id = body(response, "createConsResponse")["cons_id"]
    record = sim.state.get_constituent(cons_id)
    assert (record["origin"], record["active"], record["donor_status"], record["active_detail"]) == (
        35,
        1,
        1,
        detail,
    )
    assert record["name.first"] == "Ada" and record["custom_boolean50"] is True
    assert record["group_ids"] == ["1002"] and record["source"] == "mcommons"
    assert record["modify_time"] >= before
    assert len(sim.state.interactions(cons_id)) == 1


def test_new_cons_ids_increase_and_have_seven_digits(api, email_factory):
    first = body(api("create", primary_email=email_factory()), "createConsResponse")["cons_id"]
    second = body(api("create", primary_email=email_factory()), "createConsResponse")["cons_id"]
    assert len(first) == 7 and int(second) > int(first)


def test_duplicate_email_policy(sim, api, email_factory):
    email = email_factory()
    existing = sim.state.add_constituent(primary_email=email)
    assert error_code(api("create", primary_email=email.upper())) == "11"
    other = sim.state.add_constituent(primary_email=email_factory())
    assert error_code(api("update", cons_id=other, primary_email=email)) == "13"
    sim.set_duplicate_emails("allow")
    created = body(api("create", primary_email=email), "createConsResponse")["cons_id"]
    assert sorted(sim.state.find_by_email(email)) == sorted([existing, created])


def test_update_changes_fields_bumps_modify_time_and_logs(sim, api, email_factory):
    cons_id = sim.state.add_constituent(primary_email=email_factory())
    before = sim.state.get_constituent(cons_id)["modify_time"]
    sim.clock.advance(60)
    response = api(
        "update",
        cons_id=cons_id,
        mobile_phone="2125550187",
        custom_boolean50="false",
        interaction_subject="SMS opt-out",
        interaction_body="Texted STOP",
    )
    assert body(response, "updateConsResponse") == {"cons_id": cons_id, "message": "User updated."}
    record = sim.state.get_constituent(cons_id)
    assert record["mobile_phone"] == "2125550187" and record["custom_boolean50"] is False
    assert record["modify_time"] > before
    logged = sim.state.interactions(cons_id)[-1]
    assert (logged["subject"], logged["body"], logged["method"]) == ("SMS opt-out", "Texted STOP", "update")


def test_update_without_subject_still_logs_an_interaction(sim, api, email_factory):
    cons_id = sim.state.add_constituent(primary_email=email_factory())
    api("update", cons_id=cons_id, **{"name.last": "Changed"})
    assert len(sim.state.interactions(cons_id)) == 1


def test_update_rejects_bad_values_naming_the_field(sim, api, email_factory):
    cons_id = sim.state.add_constituent(primary_email=email_factory())
    response = api("update", cons_id=cons_id, custom_boolean50="maybe")
    assert error_code(response) == "22"
    assert "custom_boolean50" in body(response, "errorResponse")["message"]
    assert error_code(api("update", cons_id=cons_id, **{"name.last": "x" * 51})) == "23"


def test_create_or_update_takes_both_paths(sim, api, email_factory):
    email = email_factory()
    existing = sim.state.add_constituent(primary_email=email)
    updated = body(
        api("createOrUpdate", primary_email=email, custom_boolean50="true"), "createOrUpdateConsResponse"
    )
    assert updated == {"cons_id": existing, "message": "User updated."}
    assert sim.state.get_constituent(existing)["custom_boolean50"] is True
    created = body(
        api("createOrUpdate", primary_email=email_factory(), no_welcome="true"), "createOrUpdateConsResponse"
    )
    assert created["cons_id"] != existing
    assert sim.state.get_constituent(created["cons_id"])["origin"] == 35


def test_add_and_remove_group_and_center_ids_take_comma_lists(sim, api, email_factory):
    cons_id = sim.state.add_constituent(primary_email=email_factory(), group_ids=[1002])
    api("update", cons_id=cons_id, add_group_ids="1003,1005", remove_group_ids="1002", add_center_ids="2001")
    record = sim.state.get_constituent(cons_id)
    assert record["group_ids"] == ["1003", "1005"] and record["center_ids"] == ["2001"]
    assert error_code(api("update", cons_id=cons_id, add_group_ids="424242")) == "22"


def test_get_user_fields_filter(sim, api):
    cons_id = sim.state.seeded_ids(1)[0]
    user = body(api("getUser", cons_id=cons_id, fields="name.first,custom_boolean50"), "getConsResponse")
    assert set(user) == {"name", "custom"}
    assert set(user["name"]) == {"first"}
    assert user["custom"]["boolean"]["id"] == "custom_boolean50"


def test_list_user_fields(api):
    fields = body(api("listUserFields", access="update", include_choices="true"), "listConsFieldsResponse")[
        "field"
    ]
    by_name = {f["name"]: f for f in fields}
    for name in (
        "mobile_phone",
        "name.first",
        "name.last",
        "primary_email",
        "primary_address.street1",
        "primary_address.street2",
        "primary_address.city",
        "primary_address.state",
        "primary_address.zip",
        "primary_address.country",
        "custom_boolean1",
        "custom_boolean50",
    ):
        assert name in by_name
    assert "cons_id" not in by_name
    assert by_name["custom_boolean50"]["label"] == "Mobile Opt-in"
    assert by_name["name.first"]["maxChars"] == "50" and by_name["custom_boolean50"]["valueType"] == "BOOLEAN"
    assert "MA" in by_name["primary_address.state"]["choices"]["choice"]
    viewable = body(api("listUserFields"), "listConsFieldsResponse")["field"]
    assert "cons_id" in {f["name"] for f in viewable} and "choices" not in str(viewable)


def test_get_user_groups_collapse_by_count(sim, api, email_factory):
    none = sim.state.add_constituent(primary_email=email_factory())
    one = sim.state.add_constituent(primary_email=email_factory(), group_ids=[1002])
    two = sim.state.add_constituent(primary_email=email_factory(), group_ids=[1002, 1003])
    assert body(api("getUserGroups", cons_id=none), "getConsGroupsResponse") == {}
    assert body(api("getUserGroups", cons_id=one), "getConsGroupsResponse") == {
        "group": {"id": "1002", "label": "Volunteers"}
    }
    assert len(body(api("getUserGroups", cons_id=two), "getConsGroupsResponse")["group"]) == 2


def test_get_user_centers_is_empty_on_no_match(sim, api, email_factory):
    cons_id = sim.state.add_constituent(primary_email=email_factory(), center_ids=[2001])
    assert body(api("getUserCenters", cons_id=cons_id), "getConsCentersResponse")["center"]["id"] == "2001"
    assert body(api("getUserCenters", primary_email=email_factory()), "getConsCentersResponse") == {}


def test_log_interaction(sim, api, email_factory):
    cons_id = sim.state.add_constituent(primary_email=email_factory())
    response = api("logInteraction", cons_id=cons_id, interaction_subject="Texted in", interaction_body="hi")
    assert response.json() == {"updateConsResponse": {"message": "Interaction logged successfully."}}
    assert sim.state.interactions(cons_id)[-1]["subject"] == "Texted in"
    assert error_code(api("logInteraction", cons_id=cons_id)) == "9"
    assert error_code(api("logInteraction", cons_id=cons_id, interaction_subject="s" * 81)) == "30"
    assert (
        error_code(
            api("logInteraction", cons_id=cons_id, interaction_subject="ok", interaction_body="b" * 1501)
        )
        == "30"
    )
    assert error_code(api("update", cons_id=cons_id, interaction_subject="s" * 81)) == "30"
    assert len(sim.state.interactions(cons_id)) == 1


def test_get_user_interactions_pages(sim, api, email_factory):
    cons_id = sim.state.add_constituent(primary_email=email_factory())
    for n in range(5):
        api("logInteraction", cons_id=cons_id, interaction_subject=f"note {n}", interaction_body=f"body {n}")
    page = body(
        api("getUserInteractions", cons_id=cons_id, list_page_size="2", list_page_offset="1"),
        "getUserInteractionsResponse",
    )["interaction"]
    assert [i["subject"] for i in page] == ["note 2", "note 3"]
    assert page[0]["note"]["text"] == "body 2"
    last = body(
        api("getUserInteractions", cons_id=cons_id, list_page_size="2", list_page_offset="2"),
        "getUserInteractionsResponse",
    )["interaction"]
    assert last["subject"] == "note 4"


def test_get_group_members_caps_but_reports_true_total(sim, api):
    group = sim.state.add_group("Big group")
    for n in range(5):
        sim.state.add_constituent(primary_email=f"member{n}@big.example.org", group_ids=[int(group)])
    reply = body(api("getGroupMembers", group_id=group, max_number="3"), "getGroupMembersResponse")
    assert reply["total_number"] == "5" and len(reply["member"]) == 3
    assert set(reply["member"][0]) >= {"cons_id", "first_name", "primary_email", "home_city"}
    seeded = body(
        api("getGroupMembers", group_id="1004", max_number="5000", fields="cons_id"),
        "getGroupMembersResponse",
    )
    assert len(seeded["member"]) == min(int(seeded["total_number"]), 1000)
    assert error_code(api("getGroupMembers")) == "9"


def test_staff_edits_bump_modify_time_and_deletes_hide_the_record(sim, api, email_factory):
    cons_id = sim.state.add_constituent(primary_email=email_factory())
    before = sim.state.get_constituent(cons_id)["modify_time"]
    sim.clock.advance(3600)
    sim.state.update_constituent(cons_id, **{"name.first": "Edited"})
    assert sim.state.get_constituent(cons_id)["modify_time"] > before
    sim.state.delete_constituent(cons_id)
    assert error_code(api("getUser", cons_id=cons_id)) == "16"
    with pytest.raises(KeyError):
        sim.state.get_constituent(cons_id)


def test_staff_edit_with_unknown_field_names_it(sim):
    cons_id = sim.state.seeded_ids(1)[0]
    with pytest.raises(ValueError, match="no_such_field"):
        sim.state.update_constituent(cons_id, no_such_field=1)


def test_group_members_follow_membership_changes(sim, api):
    before = body(api("getGroupMembers", group_id="1002", fields="cons_id"), "getGroupMembersResponse")
    members = {m["cons_id"] for m in before["member"]}
    outsider = next(c for c in sim.state.seeded_ids() if c not in members)
    insider = sorted(members)[0]
    api("update", cons_id=outsider, add_group_ids="1002")
    api("update", cons_id=insider, remove_group_ids="1002")
    after = body(api("getGroupMembers", group_id="1002", fields="cons_id"), "getGroupMembersResponse")
    ids = {m["cons_id"] for m in after["member"]}
    assert outsider in ids and insider not in ids and after["total_number"] == before["total_number"]
