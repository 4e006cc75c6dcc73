"""A patch-through call posted to /api/calls reaches Luminate through the outbound sync's takeAction."""

from __future__ import annotations

import pytest

from lumisync.datasync.engine.outbound import run_outbound
from lumisync.mcapi.models import ApiKey
from lumisync.subscribers import services
from lumisync.subscribers.models import Channel

pytestmark = pytest.mark.django_db


def test_a_call_posted_to_the_api_is_sent_to_luminate_once(
    client, make_integration, simulator, organization, paths
):
    integration = make_integration()
    profile, _ = services.get_or_create_profile(
        organization, "2025550187", channel=Channel.WEB, email="caller3@example.org"
    )
    services.opt_in(profile, paths["default"], channel=Channel.WEB)
    run_outbound(integration)
    profile.refresh_from_db()
    _, token = ApiKey.issue(organization, "call tool")

    answer = client.post(
        "/api/calls",
        {
            "phone_number": "(202) 555-0187",
            "alert_id": "4001",  # a call alert the simulator knows
            "recipient_id": "S000148",
            "recipient_name": "Sen. Example",
            "started_at": "2026-06-01T14:03:00Z",
            "duration": "95",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert b'<response success="true">' in answer.content
    run_outbound(integration)
    run_outbound(integration)

    actions = simulator.state.actions(profile.constituent_id)
    assert len(actions) == 1
    assert (actions[0]["alert_id"], actions[0]["contact_name"], actions[0]["called"]) == (
        "4001",
        "Sen. Example",
        True,
    )
    assert "95 s" in actions[0]["note"]
