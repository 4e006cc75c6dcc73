"""Every SRConsAPI, SRGroupAPI and SRAdvocacyAPI method the client offers, against the simulator."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from lumisync.luminate import Duplicate, LuminateClient, MultipleMatches, NotFound, WriteResult

_emails = itertools.count(1)


def new_email() -> str:
    return f"contract{next(_emails)}-{dt.datetime.now().timestamp()}@example.org"


@pytest.fixture
def client(site):
    with LuminateClient(site) as client:
        yield client


def test_get_user_by_cons_id_is_a_flat_dict(sim, client):
    cons_id = sim.state.add_constituent(
        primary_email="Jane.Doe@Example.org",
        **{"name.first": "Jane", "name.last": "Doe", "mobile_phone": "5551234567", "custom_boolean50": True},
    )
    record = client.get_user(cons_id=int(cons_id))
    assert record["cons_id"] == cons_id
    assert record["name.first"] == "Jane"
    assert record["name.last"] == "Doe"
    assert record["primary_email"].lower() == "jane.doe@example.org"
    assert record["mobile_phone"] == "5551234567"
    assert record["custom_boolean50"] is True
    assert record["custom_boolean1"] is False


def test_get_user_by_email_ignores_case_and_by_member_id(sim, client):
    email = new_email()
    cons_id = sim.state.add_constituent(primary_email=email, member_id=f"M-{email[:12]}")
    assert client.get_user(primary_email=email.upper())["cons_id"] == cons_id
    assert client.get_user(member_id=f"M-{email[:12]}")["cons_id"] == cons_id


def test_get_user_fields_limits_the_record(sim, client):
    cons_id = sim.state.seeded_ids(1)[0]
    record = client.get_user(cons_id=cons_id, fields=["name.first", "custom_boolean50"])
    assert set(record) <= {"cons_id", "name.first", "custom_boolean50"}
    assert "name.first" in record


def test_get_user_not_found_and_several_matches(sim, client):
    with pytest.raises(NotFound) as caught:
        client.get_user(cons_id="99999999")
    assert caught.value.code == 16
    assert caught.value.method == "getUser"
    email = new_email()
    sim.state.add_constituent(primary_email=email)
    sim.state.add_constituent(primary_email=email)
    with pytest.raises(MultipleMatches) as caught:
        client.get_user(primary_email=email)
    assert caught.value.code == 8


def test_create_sends_fields_groups_source_and_interaction(sim, client):
    group = sim.state.add_group("Contract create")
    email = new_email()
    result = client.create(
        {"primary_email": email, "name.first": "Ann", "mobile_phone": "5550001111", "custom_boolean50": True},
        interaction_subject="SMS opt-in " + "x" * 200,
        interaction_body="Joined by keyword",
        source="SMS",
        sub_source="keyword JOIN",
        no_welcome=True,
        add_group_ids=[group],
    )
    assert isinstance(result, WriteResult)
    stored = sim.state.get_constituent(result.cons_id)
    assert stored["custom_boolean50"] is True
    assert stored["name.first"] == "Ann"
    assert group in stored["group_ids"]
    assert (stored["source"], stored["sub_source"]) == ("SMS", "keyword JOIN")
    assert stored["active_detail"] == 1, "no_welcome=True leaves the record unconfirmed (no autoresponder)"
    subjects = [i["subject"] for i in sim.state.interactions(result.cons_id)]
    assert any(s.startswith("SMS opt-in") and len(s) <= 80 for s in subjects)


def test_create_of_an_existing_email_is_a_duplicate(sim, client):
    email = new_email()
    sim.state.add_constituent(primary_email=email)
    with pytest.raises(Duplicate) as caught:
        client.create({"primary_email": email}, interaction_subject="SMS", interaction_body="")
    assert caught.value.code in (11, 13)


def test_update_sets_fields_and_moves_groups(sim, client):
    keep, drop = sim.state.add_group("Contract keep"), sim.state.add_group("Contract drop")
    cons_id = sim.state.add_constituent(primary_email=new_email(), custom_boolean50=True)
    client.update(
        {"custom_boolean50": True},
        cons_id=cons_id,
        add_group_ids=[drop],
        interaction_subject="s",
        interaction_body="",
    )
    result = client.update(
        {"custom_boolean50": False, "name.first": "Renamed"},
        cons_id=cons_id,
        add_group_ids=[keep],
        remove_group_ids=[drop],
        interaction_subject="SMS opt-out",
        interaction_body="Texted STOP",
    )
    assert result.cons_id == cons_id
    assert result.message == "User updated."
    stored = sim.state.get_constituent(cons_id)
    assert stored["custom_boolean50"] is False
    assert stored["name.first"] == "Renamed"
    assert keep in stored["group_ids"] and drop not in stored["group_ids"]
    assert sim.state.interactions(cons_id)[-1]["subject"] == "SMS opt-out"


def test_update_of_a_missing_record_is_not_found(client):
    with pytest.raises(NotFound):
        client.update({"name.first": "x"}, cons_id="99999998", interaction_subject="s", interaction_body="b")


def test_create_or_update_finds_then_creates(sim, client):
    email = new_email()
    existing = sim.state.add_constituent(primary_email=email)
    found = client.create_or_update(
        {"primary_email": email, "custom_boolean50": True}, interaction_subject="SMS", interaction_body="b"
    )
    assert found.cons_id == existing
    assert sim.state.get_constituent(existing)["custom_boolean50"] is True
    created = client.create_or_update(
        {"primary_email": new_email(), "name.first": "New"},
        interaction_subject="SMS",
        interaction_body="b",
        no_welcome=True,
    )
    assert created.cons_id != existing
    assert sim.state.get_constituent(created.cons_id)["name.first"] == "New"


def test_create_or_update_moves_centers_and_groups_on_both_paths(sim, client):
    first_center, second_center = sorted(sim.state.centers)[:2]
    keep, drop = sim.state.add_group("Contract upsert keep"), sim.state.add_group("Contract upsert drop")
    email = new_email()
    created = client.create_or_update(
        {"primary_email": email},
        interaction_subject="SMS opt-in",
        interaction_body="",
        source="SMS",
        sub_source="web form",
        add_center_ids=[first_center, second_center],
        add_group_ids=[keep, drop],
    )
    stored = sim.state.get_constituent(created.cons_id)
    assert stored["center_ids"] == [str(first_center), str(second_center)]
    assert (stored["source"], stored["sub_source"]) == ("SMS", "web form")

    updated = client.create_or_update(
        {"primary_email": email},
        interaction_subject="SMS opt-in",
        interaction_body="",
        remove_center_ids=[first_center],
        remove_group_ids=[drop],
    )
    assert updated.cons_id == created.cons_id
    stored = sim.state.get_constituent(created.cons_id)
    assert stored["center_ids"] == [str(second_center)]
    assert keep in stored["group_ids"] and drop not in stored["group_ids"]


def test_list_user_fields(client):
    fields = {field.name: field for field in client.list_user_fields()}
    assert fields["custom_boolean50"].value_type == "BOOLEAN"
    assert fields["name.first"].max_chars == 50
    assert "MA" in fields["primary_address.state"].choices


def test_user_groups_with_none_one_and_several(sim, client):
    cons_id = sim.state.add_constituent(primary_email=new_email())
    assert client.get_user_groups(cons_id=cons_id) == []
    first, second = sim.state.add_group("Contract one"), sim.state.add_group("Contract two")
    sim.state.update_constituent(cons_id, group_ids=[int(first)])
    assert client.get_user_groups(cons_id=cons_id) == [{"id": first, "label": "Contract one"}]
    sim.state.update_constituent(cons_id, group_ids=[int(first), int(second)])
    assert {g["id"] for g in client.get_user_groups(cons_id=cons_id)} == {first, second}


def test_user_centers(sim, client):
    cons_id = sim.state.add_constituent(primary_email=new_email())
    assert client.get_user_centers(cons_id=cons_id) == []
    center = next(iter(sim.state.centers))
    sim.state.update_constituent(cons_id, center_ids=[center])
    assert [c["id"] for c in client.get_user_centers(cons_id=cons_id)] == [str(center)]


def test_log_interaction_and_read_it_back(sim, client):
    cons_id = sim.state.add_constituent(primary_email=new_email())
    result = client.log_interaction(
        cons_id=cons_id, interaction_subject="Texted back", interaction_body="b" * 2000
    )
    assert result.message == "Interaction logged successfully."
    logged = sim.state.interactions(cons_id)[-1]
    assert logged["subject"] == "Texted back"
    assert len(logged["body"]) <= 1500
    interactions = client.get_user_interactions(cons_id=cons_id, list_page_size=100)
    assert any(item.get("subject") == "Texted back" for item in interactions)


def test_list_groups_reads_every_page(sim, client):
    names = {f"Paged group {i}" for i in range(7)}
    ids = {sim.state.add_group(name) for name in names}
    groups = client.list_groups(page_size=3)
    by_id = {g["id"]: g["name"] for g in groups}
    assert ids <= set(by_id)
    assert len(groups) == len(by_id)
    assert {by_id[i] for i in ids} == names


def test_take_call_action(sim, client):
    cons_id = sim.state.add_constituent(primary_email=new_email())
    alert = next(a for a in sim.state.alerts.values() if a["type"] == "call" and a["status"] == "active")
    reply = client.take_call_action(
        cons_id=cons_id, alert_id=alert["id"], called=True, contact_name="Staffer Sam", note="Left a message"
    )
    assert reply["cons_id"] == cons_id
    (action,) = sim.state.actions(cons_id)
    assert action["alert_type"] == "call"
    assert action["recipient"] == "call"
    assert action["called"] is True
    assert action["contact_name"] == "Staffer Sam"
    assert action["note"] == "Left a message"


def test_both_url_forms(sim, make_site):
    cons_id = sim.state.seeded_ids(1)[0]
    with LuminateClient(make_site(org=None)) as client:
        assert client.get_user(cons_id=cons_id)["cons_id"] == cons_id
    assert sim.request_log[-1]["path"] == "/site/SRConsAPI"
    with LuminateClient(make_site()) as client:
        assert client.get_user(cons_id=cons_id)["cons_id"] == cons_id
    assert sim.request_log[-1]["path"] == f"/{sim.org}/site/SRConsAPI"


def test_field_types_from_list_user_fields(sim, client):
    cons_id = sim.state.add_constituent(
        primary_email=new_email(), birth_date="1990-02-03", custom_boolean2=True
    )
    client.use_field_types(client.list_user_fields(access="view"))
    assert client.field_types["custom_boolean2"] == "BOOLEAN"
    record = client.get_user(cons_id=cons_id)
    assert record["custom_boolean2"] is True
    assert record["birth_date"] == dt.date(1990, 2, 3)
