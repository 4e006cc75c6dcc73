"""Every Luminate client the app builds for one site, in one process, keeps to the site's requests/s
together: the nightly run, an outbound run, Test Connection and Try one constituent share one budget."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from datetime import datetime

import pytest

from lumisync.datasync.engine.context import site_config
from lumisync.datasync.models import Integration
from lumisync.datasync.sites import luminate_client, site_limiter

pytestmark = pytest.mark.django_db

RATE = 5.0  # one request every 200 ms
SLACK = 0.05  # the simulator stamps a request when it has answered it


def test_one_limiter_per_site_and_rate(make_integration):
    site = site_config(make_integration())

    assert site_limiter(site) is site_limiter(dataclasses.replace(site, concurrency=2))
    assert site_limiter(site) is not site_limiter(dataclasses.replace(site, rate=site.rate / 2))
    assert site_limiter(site) is not site_limiter(dataclasses.replace(site, host="127.0.0.2"))


def test_clients_in_different_threads_keep_to_the_sites_rate_together(make_integration, simulator):
    integration = make_integration()
    Integration.objects.filter(pk=integration.pk).update(api_requests_per_second=RATE)
    site = site_config(Integration.objects.get(pk=integration.pk))
    simulator.clear_request_log()

    def list_groups_three_times() -> None:
        with luminate_client(site) as client:
            for _ in range(3):
                client.list_groups()

    workers = [threading.Thread(target=list_groups_three_times) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    times = sorted(datetime.fromisoformat(entry["time"]) for entry in simulator.request_log)
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert len(times) >= 6 and min(gaps) >= 1 / RATE - SLACK, gaps
