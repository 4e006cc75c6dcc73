"""The outbound run's two Luminate clients (one for consent writes, one that sends calls without retrying)
talk to the same site and together keep to its requests-per-second limit."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from django.utils import timezone

from lumisync.datasync.engine.outbound import run_outbound
from lumisync.datasync.models import Integration, SyncRun
from lumisync.subscribers import services
from lumisync.subscribers.models import Call, Channel

pytestmark = pytest.mark.django_db

RATE = 5.0  # requests per second: one every 200 ms
# The simulator stamps a request when it has answered it, so two requests booked exactly 200 ms apart
# can be logged a little closer; two clients pacing apart send back to back, a few milliseconds apart.
SLACK = 0.05


def join(organization, path, phone: str, email: str):
    profile, _ = services.get_or_create_profile(organization, phone, channel=Channel.WEB, email=email)
    services.opt_in(profile, path, channel=Channel.WEB, source_detail="web form")
    return profile


def test_consent_writes_and_calls_together_keep_to_the_sites_rate(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    callers = [
        join(organization, paths["default"], f"202555010{n}", f"caller{n}@example.org") for n in range(3)
    ]
    run_outbound(integration)  # links the callers at the fixture's unlimited pace
    Integration.objects.filter(pk=integration.pk).update(api_requests_per_second=RATE)
    for n, profile in enumerate(callers):
        services.record_call(
            profile,
            alert_id="4001",
            recipient_name="Sen. Rivers",
            started_at=timezone.now(),
            status=Call.Status.COMPLETED,
        )
        # A new subscriber's opt-in goes out in the same run, through the other client.
        join(organization, paths["default"], f"202555020{n}", f"joiner{n}@example.org")
    simulator.clear_request_log()

    run = run_outbound(integration)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    log = simulator.request_log
    methods = [entry["method"] for entry in log]
    assert methods.count("takeAction") == 3 and len(methods) > 3, methods
    times = [datetime.fromisoformat(entry["time"]) for entry in log]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1 / RATE - SLACK, list(zip(methods[1:], gaps, strict=True))
    span = (times[-1] - times[0]).total_seconds()
    assert span >= (len(log) - 1) / RATE - SLACK, f"{len(log)} requests in {span:.2f} s"
