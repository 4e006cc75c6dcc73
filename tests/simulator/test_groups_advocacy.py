"""SRGroupAPI and SRAdvocacyAPI."""

from __future__ import annotations

from .wire import body, error_code


def test_list_groups_pages_and_selection_modes(api):
    first = body(api("listGroups", "SRGroupAPI", list_page_size="3"), "listGroupsResponse")
    assert len(first["groupInfo"]) == 3
    total = int(first["totalNumberResults"])
    assert "API Administrators" not in str(first)
    rest = body(
        api("listGroups", "SRGroupAPI", list_page_size="3", list_page_offset="1"), "listGroupsResponse"
    )
    assert not {g["id"] for g in first["groupInfo"]} & {g["id"] for g in rest["groupInfo"]}
    everything = body(api("listGroups", "SRGroupAPI", list_page_size="100"), "listGroupsResponse")[
        "groupInfo"
    ]
    assert len(everything) == total
    admin = body(api("listGroups", "SRGroupAPI", selection_mode="ADMIN_SECURITY"), "listGroupsResponse")
    assert admin["groupInfo"]["name"] == "API Administrators"
    assert error_code(api("listGroups", "SRGroupAPI", selection_mode="BOGUS")) == "50"


def test_get_group_info(sim, api):
    group = sim.state.add_group("Info group")
    sim.state.add_constituent(primary_email="info1@example.org", group_ids=[int(group)])
    info = body(api("getGroupInfo", "SRGroupAPI", group_id=group), "getGroupInfoResponse")["groupInfo"]
    assert (info["id"], info["name"], info["numMembers"]) == (group, "Info group", "1")
    assert set(info["emailStats"]) == {"numOptedOut", "numSendable", "numSoftBounce", "numHardBounce"}
    assert error_code(api("getGroupInfo", "SRGroupAPI")) == "9"


def _call_params(cons_id: str, **extra) -> dict:
    return {
        "alert_id": "4001",
        "alert_type": "call",
        "recipient": "call",
        "cons_id": cons_id,
        "called": "true",
        "contact_name": "Pat Staffer",
        "contact_position": "Legislative aide",
        "note": "Left a message",
        **extra,
    }


def test_take_action_records_the_call(sim, api):
    cons_id = sim.state.add_constituent(primary_email="caller@example.org")
    before = sim.state.get_constituent(cons_id)["modify_time"]
    sim.clock.advance(5)
    reply = body(api("takeAction", "SRAdvocacyAPI", **_call_params(cons_id)), "takeActionResponse")
    assert reply["alert_id"] == "4001" and reply["cons_id"] == cons_id
    (action,) = sim.state.actions(cons_id)
    assert (
        action["called"] is True
        and action["contact_name"] == "Pat Staffer"
        and action["note"] == "Left a message"
    )
    assert sim.state.interactions(cons_id)[-1]["subject"].startswith("Took action")
    assert sim.state.get_constituent(cons_id)["modify_time"] > before


def test_take_action_preview_writes_nothing(sim, api):
    cons_id = sim.state.add_constituent(primary_email="previewer@example.org")
    reply = body(
        api("takeAction", "SRAdvocacyAPI", **_call_params(cons_id, preview="true")), "takeActionResponse"
    )
    assert reply["preview"] == "true"
    assert sim.state.actions(cons_id) == [] and sim.state.interactions(cons_id) == []


def test_take_action_validation(sim, api):
    cons_id = sim.state.seeded_ids(1)[0]
    assert error_code(api("takeAction", "SRAdvocacyAPI", cons_id=cons_id, alert_type="call")) == "9"
    assert error_code(api("takeAction", "SRAdvocacyAPI", **_call_params(cons_id, alert_id="4004"))) == "22"
    assert error_code(api("takeAction", "SRAdvocacyAPI", **_call_params(cons_id, alert_type="vote"))) == "22"
    assert error_code(api("takeAction", "SRAdvocacyAPI", **_call_params("9999999"))) == "16"
    assert api("takeAction", "SRAdvocacyAPI", verb="GET", **_call_params(cons_id)).status_code == 405


def test_get_advocacy_alerts_filters(api):
    alerts = body(
        api("getAdvocacyAlerts", "SRAdvocacyAPI", verb="GET", alert_type="call", alert_status="active"),
        "getAdvocacyAlertsResponse",
    )["alert"]
    assert alerts["alertId"] == "4001"
