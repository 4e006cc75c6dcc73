"""Seeded data: deterministic, lazy at a million records, with valid US mobile numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import phonenumbers
import pytest

from lumisync.simulator import SimulatorConfig
from lumisync.simulator.clock import Clock
from lumisync.simulator.state import State

START = datetime(2026, 1, 1, tzinfo=UTC)


def _state(**overrides) -> State:
    config = SimulatorConfig(**{"seed": 3, "constituents": 2000, **overrides})
    return State(config, Clock(START, frozen=True))


def test_same_seed_same_records_other_seed_other_records():
    a, b, c = _state(), _state(), _state(seed=4)
    ids = a.seeded_ids(20)
    assert [a.get_constituent(i) for i in ids] == [b.get_constituent(i) for i in ids]
    assert [a.get_constituent(i)["primary_email"] for i in ids] != [
        c.get_constituent(i)["primary_email"] for i in ids
    ]


def test_mobile_numbers_are_valid_us_numbers_and_shares_hold():
    state = _state(mobile_share=0.5, opt_in_share=0.5)
    records = [state.get_constituent(i) for i in state.seeded_ids()]
    phones = [r["mobile_phone"] for r in records if r["mobile_phone"]]
    assert 800 < len(phones) < 1200
    for phone in phones:
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone, "US")), phone
    opted = [r for r in records if r["custom_boolean50"]]
    assert all(r["mobile_phone"] for r in opted) and 300 < len(opted) < 700
    sms_group = [r for r in records if "1001" in r["group_ids"]]
    assert len(sms_group) == len(opted)


def test_some_records_have_no_email_and_emails_are_lower_case():
    state = _state(no_email_share=0.05)
    emails = [state.get_constituent(i)["primary_email"] for i in state.seeded_ids()]
    assert 0 < emails.count(None) < 300
    assert all(e == e.lower() for e in emails if e)


def test_modify_times_fall_in_the_thirty_days_before_the_clock_start():
    state = _state()
    for cons_id in state.seeded_ids(200):
        record = state.get_constituent(cons_id)
        assert (START - record["modify_time"]).days < 30
        assert record["creation_time"] <= record["modify_time"]


def test_a_million_records_are_derived_on_demand():
    # Every record has an email here, so the lookup below is always exercised.
    state = _state(constituents=1_000_000, no_email_share=0.0)
    assert state.count() == 1_000_000
    last = state.seeded_ids()[-1]
    assert len(last) == 7
    record = state.get_constituent(last)
    assert state.find_by_email(record["primary_email"].upper()) == [last]
    state.update_constituent(last, **{"name.first": "Changed"})
    assert state.get_constituent(last)["name.first"] == "Changed"
    assert state.count() == 1_000_000


def test_changed_email_moves_the_lookup():
    state = _state()
    cons_id = next(i for i in state.seeded_ids() if state.get_constituent(i)["primary_email"])
    old = state.get_constituent(cons_id)["primary_email"]
    state.update_constituent(cons_id, primary_email="moved@example.org")
    assert state.find_by_email(old) == [] and state.find_by_email("Moved@Example.org") == [cons_id]


def test_config_errors_name_the_setting_and_value():
    with pytest.raises(ValueError, match="10.0.0.1"):
        SimulatorConfig(host="10.0.0.1")
    with pytest.raises(ValueError, match="opt_in_field='mobile_optin'"):
        SimulatorConfig(opt_in_field="mobile_optin")
    with pytest.raises(ValueError, match="mobile_share=1.5"):
        SimulatorConfig(mobile_share=1.5)
