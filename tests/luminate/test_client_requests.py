"""What each API method puts on the wire, checked on the plan before any I/O."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from lumisync.luminate import Credentials, InvalidInput, SiteConfig
from lumisync.luminate.api import Endpoints
from lumisync.luminate.protocol import Call


class Recorder(Endpoints):
    """Runs plans against scripted payloads and keeps the calls they made."""

    def __init__(self, *payloads):
        self.site = SiteConfig(host="secure2.convio.net", org="myorg", credentials=Credentials("k", "u", "p"))
        self._rng = random.Random(1)
        self.payloads = list(payloads)
        self.calls: list[Call] = []

    def _run(self, plan):
        try:
            step = next(plan)
            while True:
                self.calls.append(step)
                step = plan.send(self.payloads.pop(0) if self.payloads else {})
        except StopIteration as done:
            return done.value

    @property
    def params(self):
        return dict(self.calls[-1].params)


def test_create_encodes_values_ids_and_interaction():
    api = Recorder({"cons_id": "1234567"})
    result = api.create(
        {
            "primary_email": "jane@example.org",
            "custom_boolean50": True,
            "email.accepts_email": False,
            "birth_date": dt.date(1980, 5, 4),
            "name.middle": None,
            "mobile_phone": 5551234567,
        },
        interaction_subject="SMS opt-in\nvia keyword",
        interaction_body="x" * 1600,
        source="SMS",
        no_welcome=True,
        add_group_ids=[1001, "1002"],
        add_center_ids=[],
    )
    assert result.cons_id == "1234567"
    assert api.calls[-1].servlet == "SRConsAPI"
    assert api.calls[-1].method == "create"
    params = api.params
    assert params["custom_boolean50"] == "true"
    assert params["email.accepts_email"] == "false"
    assert params["birth_date"] == "1980-05-04"
    assert params["name.middle"] == ""
    assert params["mobile_phone"] == "5551234567"
    assert params["add_group_ids"] == "1001,1002"
    assert "add_center_ids" not in params
    assert params["no_welcome"] == "true"
    assert params["source"] == "SMS"
    assert params["interaction_subject"] == "SMS opt-in via keyword"
    assert len(params["interaction_body"]) == 1500


def test_update_requires_a_lookup_and_a_subject():
    api = Recorder()
    with pytest.raises(InvalidInput, match="cons_id, member_id or primary_email"):
        api.update({"name.first": "x"}, interaction_subject="s", interaction_body="")
    with pytest.raises(InvalidInput, match="interaction_subject"):
        api.update({"name.first": "x"}, cons_id=1, interaction_subject="  ", interaction_body="")
    assert api.calls == []


def test_bad_field_values_name_the_field():
    api = Recorder()
    with pytest.raises(InvalidInput, match=r"field custom_boolean50 = \['yes'\]"):
        api.update({"custom_boolean50": ["yes"]}, cons_id=1, interaction_subject="s", interaction_body="")
    with pytest.raises(InvalidInput, match="add_group_ids"):
        api.update({"add_group_ids": "1"}, cons_id=1, interaction_subject="s", interaction_body="")
    with pytest.raises(InvalidInput, match="lookup key"):
        api.update({"cons_id": "2"}, cons_id=1, interaction_subject="s", interaction_body="")


def test_create_or_update_without_lookup_uses_the_email_field():
    api = Recorder({"cons_id": "9"})
    api.create_or_update({"primary_email": "a@b.org"}, interaction_subject="s", interaction_body="")
    assert api.params["primary_email"] == "a@b.org"
    assert "cons_id" not in api.params


def test_get_user_lookup_and_fields():
    api = Recorder({"cons_id": "1001172", "name": {"first": "Z"}})
    record = api.get_user(primary_email=" Z@Convio.com ", fields=["name.first", "custom_boolean50"])
    assert record == {"cons_id": "1001172", "name.first": "Z"}
    assert api.params == {"primary_email": "Z@Convio.com", "fields": "name.first,custom_boolean50"}
    assert api.calls[-1].subject == "primary_email=Z@Convio.com"


def test_take_call_action_parameters():
    api = Recorder({"cons_id": "7"})
    api.take_call_action(cons_id=7, alert_id=4001, contact_name="Sam", note="Left a message")
    call = api.calls[-1]
    assert (call.servlet, call.method) == ("SRAdvocacyAPI", "takeAction")
    assert api.params == {
        "cons_id": "7",
        "alert_id": "4001",
        "alert_type": "call",
        "recipient": "call",
        "called": "true",
        "contact_name": "Sam",
        "note": "Left a message",
    }


def test_list_groups_walks_pages_until_a_short_one():
    page = [{"id": str(i), "name": f"g{i}"} for i in range(3)]
    api = Recorder(
        {"groupInfo": page},
        {"groupInfo": [{"id": "3", "name": "g3"}, {"id": "4", "name": "g4"}, {"id": "5", "name": "g5"}]},
        {"groupInfo": {"id": "6", "name": "g6"}},
    )
    groups = api.list_groups(page_size=3)
    assert [g["id"] for g in groups] == ["0", "1", "2", "3", "4", "5", "6"]
    assert [dict(c.params)["list_page_offset"] for c in api.calls] == ["0", "1", "2"]


def test_list_groups_stops_when_the_site_ignores_the_offset():
    page = {"groupInfo": [{"id": "1"}, {"id": "2"}]}
    api = Recorder(page, page, page)
    assert [g["id"] for g in api.list_groups(page_size=2)] == ["1", "2"]
    assert len(api.calls) == 2


def test_empty_listings():
    assert Recorder({}).get_user_groups(cons_id=1) == []
    assert Recorder({}).list_groups() == []
    assert Recorder({"interaction": {"subject": "Hi", "note": {"text": "t"}}}).get_user_interactions(
        cons_id=1
    ) == [{"subject": "Hi", "note.text": "t"}]
