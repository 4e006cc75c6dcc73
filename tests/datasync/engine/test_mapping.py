"""From a Luminate record to the policy's Incoming: constituent IDs in one form, problems kept with their
values so that the report can quote them."""

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from lumisync.datasync.engine import mapping
from lumisync.datasync.engine.mapping import Column, MappingPlan
from lumisync.datasync.engine.policy import Category, Rules, decide
from lumisync.luminate.files import Row, column_key

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


def test_a_file_row_reads_as_the_api_record_with_the_same_values():
    modified = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    row = Row(
        file="changed.csv",
        line=2,
        cons_id="001000101",
        values={
            column_key(heading): value
            for heading, value in {
                "SMS_OPT_IN": "yes",
                "MOBILE_PHONE": " (202) 555-0143 ",
                "PRIMARY_EMAIL": "Jane@EXAMPLE.org",
                "FIRST": " Jane ",
            }.items()
        },
        modify_time=modified,
        creation_time=None,
    )
    api = record(primary_email="Jane@EXAMPLE.org", **{"name.first": " Jane ", "modify_time": modified})
    api["mobile_phone"] = " (202) 555-0143 "

    from_file = mapping.read(mapping.values_from_file(PLAN, row), PLAN.region)

    assert from_file == mapping.from_api(PLAN, api)
    assert (
        from_file.cons_id,
        from_file.phone,
        from_file.fields["email"],
        from_file.fields["first_name"],
    ) == (
        "1000101",
        "+12025550143",
        "Jane@example.org",
        "Jane",
    )
    assert from_file.opted_in and from_file.modified_at == modified


def test_values_are_read_without_django_so_a_worker_process_can_read_them():
    """The worker process that reads file-mode values imports this module without setting Django up."""
    script = (
        "import sys; from lumisync.datasync.engine import mapping; "
        "values = mapping.Values('1', {'email': 'A@B.ORG'}, '2025550143', True); "
        "[one] = mapping.read_all([values], 'US'); "
        "assert (one.phone, one.fields['email']) == ('+12025550143', 'A@b.org'), one; "
        "assert 'django.db.models' not in sys.modules, 'models imported'"
    )
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}

    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
