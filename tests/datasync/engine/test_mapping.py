"""From a Luminate record to the policy's Incoming: constituent IDs in one form, problems kept with their
values so that the report can quote them."""

import pytest

from lumisync.datasync.engine import mapping
from lumisync.datasync.engine.mapping import Column, MappingPlan
from lumisync.datasync.engine.policy import Category, Rules, decide

PLAN = MappingPlan(
    opt_in=Column("", "custom_boolean50", "SMS_OPT_IN"),
    phone=Column("phone_number", "mobile_phone", "MOBILE_PHONE"),
    constituent_id=Column("constituent_id", "cons_id", "CONS_ID"),
    profile=(Column("email", "primary_email", "PRIMARY_EMAIL"), Column("first_name", "name.first", "FIRST")),
    donation=(),
    required=frozenset(),
    region="US",
)


def record(**values) -> dict:
    return {"cons_id": "1000101", "mobile_phone": "2025550143", "custom_boolean50": True, **values}


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("1000101", "1000101"), ("001000101", "1000101"), (" 0042 ", "42"), ("000", "0"), ("A-7", "A-7")],
)
def test_a_constituent_id_has_one_form(raw, canonical):
    assert mapping.constituent_id(raw) == canonical


def test_a_zero_padded_id_from_getuser_is_the_same_constituent():
    assert mapping.from_api(PLAN, record(cons_id="001000101")).cons_id == "1000101"


def test_an_invalid_email_is_left_out_and_its_problem_quotes_it():
    incoming = mapping.from_api(PLAN, record(primary_email="  jane.at.example.org "))

    assert incoming.fields["email"] == ""
    assert "'jane.at.example.org'" in incoming.email_problem


def test_a_very_long_invalid_email_is_quoted_shortened():
    incoming = mapping.from_api(PLAN, record(primary_email="x" * 300))

    assert incoming.email_problem.count("x") == 80 and "…" in incoming.email_problem


@pytest.mark.parametrize("email", ["", "jane@example.org"])
def test_an_empty_or_valid_email_has_no_problem(email):
    incoming = mapping.from_api(PLAN, record(primary_email=email))

    assert incoming.email_problem is None
    assert incoming.fields["email"] == email


@pytest.mark.parametrize("sync_type", ["liberal", "conservative"])
def test_row8_an_invalid_email_is_not_imported_and_the_reason_quotes_it(sync_type):
    incoming = mapping.from_api(PLAN, record(primary_email="jane.at.example.org"))

    decision = decide(
        Rules(sync_type), incoming, by_link=None, by_phone=None, snapshot=None, path_for=lambda: None
    )

    assert decision.category == Category.NO_IMPORT
    assert "jane.at.example.org" in decision.reason and "email" in decision.reason
    assert not decision.writes
