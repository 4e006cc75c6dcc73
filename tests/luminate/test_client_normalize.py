"""The normaliser on the literal examples of luminate-api.md and on each quirk, in both forms."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from lumisync.luminate import MalformedRecord
from lumisync.luminate import normalize as n


def payload(document: str, root: str) -> dict:
    return json.loads(document)[root]


def test_documented_getuser_example():
    raw = payload(
        '{"getConsResponse":{"cons_id":"1001172","email":{"primary_address":"zaphod@convio.com"},'
        '"name":{"last":"Beeblebrox","title":null,"first":"Zaphod"}}}',
        "getConsResponse",
    )
    assert n.constituent(raw) == {
        "cons_id": "1001172",
        "primary_email": "zaphod@convio.com",
        "name.last": "Beeblebrox",
        "name.title": None,
        "name.first": "Zaphod",
    }


def test_documented_custom_fields_and_empty_text():
    raw = payload(
        '{"getConsResponse":{"cons_id":"1001172","user_name":{},"name":{"first":"Jane","middle":null},'
        '"mobile_phone":"5551234567","custom":{"boolean":[{"id":"custom_boolean3","content":"true"},'
        '{"id":"custom_boolean12","content":"false"}]}}}',
        "getConsResponse",
    )
    assert n.constituent(raw) == {
        "cons_id": "1001172",
        "user_name": None,
        "name.first": "Jane",
        "name.middle": None,
        "mobile_phone": "5551234567",
        "custom_boolean3": True,
        "custom_boolean12": False,
    }


def test_one_custom_field_collapsed_to_an_object_and_string_customs():
    raw = {
        "cons_id": "7",
        "custom": {
            "boolean": {"id": "custom_boolean50", "content": "true"},
            "string": [{"id": "custom_string1", "content": {}}, {"id": "custom_string2", "content": "x"}],
        },
    }
    assert n.constituent(raw) == {
        "cons_id": "7",
        "custom_boolean50": True,
        "custom_string1": None,
        "custom_string2": "x",
    }


def test_plain_json_values_read_the_same_as_quirky_ones():
    quirky = {
        "cons_id": "1001172",
        "email": {"primary_address": "a@b.org", "accepts_email": "true"},
        "custom": {"boolean": {"id": "custom_boolean50", "content": "false"}},
        "birth_date": "1980-05-04-05:00",
        "modify_time": "2024-03-01T23:02:40.000-05:00",
    }
    plain = {
        "cons_id": 1001172,
        "email": {"primary_address": "a@b.org", "accepts_email": True},
        "custom_boolean50": False,
        "birth_date": "1980-05-04",
        "modify_time": "2024-03-01T23:02:40.000-05:00",
    }
    expected = {
        "cons_id": "1001172",
        "primary_email": "a@b.org",
        "email.accepts_email": True,
        "custom_boolean50": False,
        "birth_date": dt.date(1980, 5, 4),
        "modify_time": dt.datetime(2024, 3, 1, 23, 2, 40, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    }
    assert n.constituent(quirky) == expected
    assert n.constituent(plain) == expected


def test_null_is_kept_as_none_and_absent_stays_absent():
    record = n.constituent({"cons_id": "1", "mobile_phone": None})
    assert record["mobile_phone"] is None
    assert "home_phone" not in record


def test_nil_composite_keeps_its_own_key():
    assert n.constituent({"cons_id": "1", "name": None}) == {"cons_id": "1", "name": None}
    assert n.constituent({"cons_id": "1", "name": {}}) == {"cons_id": "1", "name": None}


def test_field_types_from_list_user_fields_win_over_names():
    raw = {"cons_id": "1", "accepts_sms": "true", "custom_string9": "2020-01-02"}
    record = n.constituent(raw, {"accepts_sms": "BOOLEAN", "custom_string9": "DATE"})
    assert record == {"cons_id": "1", "accepts_sms": True, "custom_string9": dt.date(2020, 1, 2)}


def test_unreadable_boolean_names_record_field_and_value():
    with pytest.raises(MalformedRecord) as caught:
        n.constituent(
            {"cons_id": "1001172", "custom": {"boolean": {"id": "custom_boolean50", "content": "maybe"}}}
        )
    assert "1001172" in str(caught.value)
    assert "custom_boolean50" in str(caught.value)
    assert "'maybe'" in str(caught.value)


def test_unreadable_date_is_a_malformed_record():
    with pytest.raises(MalformedRecord, match="modify_time"):
        n.constituent({"cons_id": "1", "modify_time": "last tuesday"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ({}, []),
        ({"id": "1"}, [{"id": "1"}]),
        ([{"id": "1"}, {"id": "2"}], [{"id": "1"}, {"id": "2"}]),
    ],
)
def test_as_list_undoes_the_collapse(value, expected):
    assert n.as_list(value) == expected


def test_empty_group_listing_in_both_documented_forms():
    assert n.as_list(payload('{"getConsGroupsResponse":{}}', "getConsGroupsResponse").get("group")) == []
    one = payload(
        '{"getConsGroupsResponse":{"group":{"label":"Puppy Lovers","id":"1010"}}}', "getConsGroupsResponse"
    )
    assert [n.plain(g) for g in n.as_list(one["group"])] == [{"label": "Puppy Lovers", "id": "1010"}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1980-05-04-05:00", dt.datetime(1980, 5, 4, tzinfo=dt.timezone(dt.timedelta(hours=-5)))),
        ("1980-05-04+01:00", dt.datetime(1980, 5, 4, tzinfo=dt.timezone(dt.timedelta(hours=1)))),
        ("2024-03-01T23:02:40Z", dt.datetime(2024, 3, 1, 23, 2, 40, tzinfo=dt.UTC)),
        (
            "2024-03-01 23:02:40.5+0530",
            dt.datetime(2024, 3, 1, 23, 2, 40, 500000, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        ),
        ("2024-03-01", dt.datetime(2024, 3, 1)),
        ({}, None),
        (None, None),
    ],
)
def test_datetime_forms(value, expected):
    assert n.datetime(value) == expected


@pytest.mark.parametrize("value", ["2024-13-01", "01/03/2024", "2024-03-01-25:00", "yesterday"])
def test_bad_dates_are_refused(value):
    with pytest.raises(ValueError):
        n.datetime(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), (True, True), ("Y", True), ("0", False), ({}, None)],
)
def test_booleans(value, expected):
    assert n.boolean(value) is expected


def test_text_turns_every_scalar_into_a_string():
    assert n.text(1001172) == "1001172"
    assert n.text(False) == "false"
    assert n.text({}) is None
    assert n.text("") is None
