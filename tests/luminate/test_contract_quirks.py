"""Each JSON quirk on and off reads to the same plain values."""

from __future__ import annotations

import pytest

from lumisync.luminate import LuminateClient
from lumisync.simulator.config import QUIRK_NAMES


def read(sim, site, cons_id):
    with LuminateClient(site) as client:
        return (
            client.get_user(cons_id=cons_id),
            client.get_user_groups(cons_id=cons_id),
            client.list_user_fields(),
        )


def without_empty(record):
    return {key: value for key, value in record.items() if value is not None}


@pytest.fixture
def member(sim):
    group = sim.state.add_group("Quirk group")
    return sim.state.add_constituent(
        primary_email="quirky@example.org",
        group_ids=[int(group)],
        birth_date="1980-05-04",
        custom_boolean50=True,
        **{"name.first": "Quinn", "primary_address.street2": ""},
    )


@pytest.mark.parametrize("quirk", [*QUIRK_NAMES, "all"])
def test_quirk_off_reads_like_quirk_on(sim, site, member, quirk):
    faithful = read(sim, site, member)
    if quirk == "all":
        sim.quirks.set_all(False)
    else:
        setattr(sim.quirks, quirk, False)
    plain = read(sim, site, member)
    record, groups, fields = plain
    if quirk in ("null_vs_absent", "all"):
        # Without the quirk a null field is left out, which reads as "not visible" rather than "empty".
        assert without_empty(record) == without_empty(faithful[0])
    else:
        assert record == faithful[0]
    assert (groups, fields) == faithful[1:]
    assert record["cons_id"] == member
    assert record["custom_boolean50"] is True
    assert record["birth_date"].isoformat() == "1980-05-04"
    assert groups == [{"id": groups[0]["id"], "label": "Quirk group"}]


def test_faithful_mode_really_is_quirky(sim, site, member):
    import httpx

    creds = site.credentials
    body = {
        "method": "getUser",
        "v": "1.0",
        "api_key": creds.api_key,
        "login_name": creds.login_name,
        "login_password": creds.login_password,
        "response_format": "json",
        "cons_id": member,
    }
    raw = httpx.post(site.servlet_url("SRConsAPI"), data=body).json()["getConsResponse"]
    assert raw["primary_address"]["street2"] == {}
    assert raw["birth_date"] != "1980-05-04"
    assert any(item["id"] == "custom_boolean50" for item in raw["custom"]["boolean"])
    with LuminateClient(site) as client:
        record = client.get_user(cons_id=member)
    assert record["primary_address.street2"] is None
