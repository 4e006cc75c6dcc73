"""Each JSON/XML quirk, on (faithful) and off."""

from __future__ import annotations

from datetime import date

from .wire import NS, body, xml_root


def _user(sim, api, **fields):
    cons_id = sim.state.add_constituent(**fields)
    return cons_id, body(api("getUser", cons_id=cons_id), "getConsResponse")


def test_string_scalars(sim, api):
    _, user = _user(sim, api, primary_email="q1@example.org", custom_boolean50=True)
    assert user["cons_id"].isdigit() and user["email"]["accepts_email"] == "false"
    sim.quirks.string_scalars = False
    _, user = _user(sim, api, primary_email="q2@example.org", custom_boolean50=True)
    assert user["email"]["accepts_email"] is False
    assert {"id": "custom_boolean50", "content": True} in user["custom"]["boolean"]


def test_list_collapse(sim, api):
    cons_id = sim.state.add_constituent(primary_email="q3@example.org", group_ids=[1002])
    assert isinstance(body(api("getUserGroups", cons_id=cons_id), "getConsGroupsResponse")["group"], dict)
    sim.quirks.collapse_lists = False
    assert isinstance(body(api("getUserGroups", cons_id=cons_id), "getConsGroupsResponse")["group"], list)
    empty = sim.state.add_constituent(primary_email="q4@example.org")
    assert body(api("getUserGroups", cons_id=empty), "getConsGroupsResponse") == {"group": []}


def test_empty_text_as_object(sim, api):
    _, user = _user(sim, api, primary_email="q5@example.org", **{"primary_address.street1": ""})
    assert user["user_name"] == {} and user["primary_address"]["street1"] == {}
    sim.quirks.empty_text_as_object = False
    _, user = _user(sim, api, primary_email="q6@example.org", **{"primary_address.street1": ""})
    assert user["user_name"] == ""


def test_null_versus_absent(sim, api):
    _, user = _user(sim, api, primary_email="q7@example.org")
    assert "middle" in user["name"] and user["name"]["middle"] is None
    sim.quirks.null_vs_absent = False
    _, user = _user(sim, api, primary_email="q8@example.org")
    assert "middle" not in user["name"]


def test_null_in_xml_is_xsi_nil(sim, api):
    cons_id = sim.state.add_constituent(primary_email="q9@example.org")
    root = xml_root(api("getUser", fmt=None, cons_id=cons_id))
    middle = root.find(f"{NS}name/{NS}middle")
    assert middle.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"


def test_date_format(sim, api):
    _, user = _user(sim, api, primary_email="q10@example.org", birth_date=date(1980, 5, 4))
    assert user["birth_date"] == "1980-05-04-05:00"
    sim.quirks.date_format = False
    _, user = _user(sim, api, primary_email="q11@example.org", birth_date=date(1980, 5, 4))
    assert user["birth_date"] == "1980-05-04"


def test_custom_grouping(sim, api):
    _, user = _user(sim, api, primary_email="q12@example.org", custom_boolean50=True)
    assert "custom_boolean50" not in user
    assert {"id": "custom_boolean50", "content": "true"} in user["custom"]["boolean"]
    sim.quirks.custom_grouping = False
    _, user = _user(sim, api, primary_email="q13@example.org", custom_boolean50=True)
    assert user["custom_boolean50"] == "true" and "custom" not in user
