"""Near-real-time outbound: an opt-in reaches Luminate within seconds, without waiting for the schedule."""

from __future__ import annotations

import time

import pytest

from lumisync.datasync.engine import schedule
from lumisync.datasync.models import Direction, Integration, SyncRun
from lumisync.subscribers import services
from lumisync.subscribers.models import Channel, Profile


def wait_for(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def join(organization, path, phone, email):
    profile, _ = services.get_or_create_profile(organization, phone, channel=Channel.WEB, email=email)
    services.opt_in(profile, path, channel=Channel.WEB, source_detail="web form")
    return profile


@pytest.mark.django_db(transaction=True)
def test_an_opt_in_goes_to_luminate_within_seconds(make_integration, simulator, organization, paths):
    integration = make_integration(near_real_time=True)

    profile = join(organization, paths["default"], "2025550191", "fast@example.org")

    assert wait_for(lambda: Profile.objects.get(pk=profile.pk).constituent_id), "no constituent within 20 s"
    record = simulator.state.get_constituent(Profile.objects.get(pk=profile.pk).constituent_id)
    assert record["custom_boolean50"] is True
    assert wait_for(lambda: not any(thread.is_alive() for thread in schedule._running.values()))
    run = SyncRun.objects.get(integration=integration, direction=Direction.OUTBOUND)
    assert run.trigger == SyncRun.Trigger.SCHEDULE


@pytest.mark.django_db(transaction=True)
def test_without_the_setting_nothing_runs_until_the_schedule(
    make_integration, organization, paths, monkeypatch
):
    integration = make_integration()
    assert Integration.objects.get(pk=integration.pk).near_real_time is False
    heard, kicked = [], []
    consent_changed = schedule.consent_changed

    def listening(organization_id):
        consent_changed(organization_id)
        heard.append(organization_id)

    monkeypatch.setattr(schedule, "consent_changed", listening)
    monkeypatch.setattr(schedule, "kick_outbound", kicked.append)

    join(organization, paths["default"], "2025550192", "slow@example.org")

    assert wait_for(lambda: heard == [organization.pk]), "the opt-in never reached the scheduler"
    assert kicked == [], "no run is started for an integration without near-real-time"
    assert not SyncRun.objects.filter(integration=integration).exists()
