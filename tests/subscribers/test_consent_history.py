"""The consent history export."""

from __future__ import annotations

import csv
import io

import pytest

from lumisync.subscribers.history import HEADER, neutralize_cell
from lumisync.subscribers.models import Channel
from lumisync.subscribers.services import confirm, consent_history_csv, opt_in, opt_out

from .conftest import PROMPT

pytestmark = pytest.mark.django_db


def rows_of(text):
    return list(csv.reader(io.StringIO(text)))


def test_every_event_is_a_row_oldest_first(profile, web_path, confirm_path):
    opt_in(
        profile,
        web_path,
        channel=Channel.WEB,
        actor="visitor",
        source_detail="Join form",
        consent_wording="I agree",
    )
    opt_in(profile, confirm_path, channel=Channel.API, actor="key crm")
    confirm(profile)
    opt_out(profile, channel=Channel.SMS, actor="+12025550143", source_detail="Texted STOP")

    header, *rows = rows_of(consent_history_csv(profile))

    assert tuple(header) == HEADER
    assert [row[1:6] for row in rows] == [
        ["Opted in", "River alerts", "Website form", "Web form", "visitor"],
        ["Awaiting confirmation", "Volunteer news", "Double opt-in", "API", "key crm"],
        ["Opted in", "Volunteer news", "Double opt-in", "Text message", "'+12025550143"],
        ["Opted out", "All campaigns", "", "Text message", "'+12025550143"],
    ]
    assert rows[0][6:] == ["Join form", "I agree"]
    assert rows[2][7] == PROMPT
    assert rows[0][0].endswith("+00:00")


def test_formula_cells_are_neutralized(profile, web_path):
    opt_in(
        profile,
        web_path,
        channel=Channel.WEB,
        actor="@SUM(A1)",
        source_detail='=HYPERLINK("http://example.invalid","x")',
        consent_wording="-1+1",
    )

    row = rows_of(consent_history_csv(profile))[1]

    assert row[5:] == ["'@SUM(A1)", '\'=HYPERLINK("http://example.invalid","x")', "'-1+1"]


@pytest.mark.parametrize("cell", ["=1", "+1", "-1", "@x", "\tx", "\rx"])
def test_each_formula_start_is_neutralized(cell):
    assert neutralize_cell(cell) == "'" + cell


def test_plain_cells_stay(profile):
    assert neutralize_cell("Texted STOP") == "Texted STOP"
    assert rows_of(consent_history_csv(profile)) == [list(HEADER)]


def test_history_is_only_the_profiles_own(profile, web_path, organization):
    from lumisync.subscribers.services import get_or_create_profile

    neighbour, _ = get_or_create_profile(organization, "+12025550144", channel=Channel.WEB)
    opt_in(neighbour, web_path, channel=Channel.WEB)

    assert len(rows_of(consent_history_csv(profile))) == 1
    assert len(rows_of(consent_history_csv(neighbour))) == 2
