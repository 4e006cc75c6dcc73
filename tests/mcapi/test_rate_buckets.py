"""The database token bucket behind the API and web opt-in limits."""

from __future__ import annotations

import datetime as dt

import pytest

from lumisync.mcapi import ratelimit
from lumisync.mcapi.models import RateBucket

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def test_bucket_allows_a_burst_then_refills_at_the_rate():
    granted = [ratelimit.take("k", per_minute=60, burst=3, now=T0) for _ in range(3)]
    assert granted == [None, None, None]
    assert ratelimit.take("k", per_minute=60, burst=3, now=T0) == 1
    assert ratelimit.take("k", per_minute=60, burst=3, now=T0 + dt.timedelta(seconds=1)) is None
    assert ratelimit.take("k", per_minute=60, burst=3, now=T0 + dt.timedelta(seconds=1)) == 1
    # Long idle: full again, never more than the burst.
    later = T0 + dt.timedelta(hours=1)
    assert [ratelimit.take("k", per_minute=60, burst=3, now=later) for _ in range(4)] == [None, None, None, 1]


def test_buckets_idle_for_a_day_are_forgotten():
    ratelimit.take("old", per_minute=60, burst=3, now=T0)
    ratelimit.take("new", per_minute=60, burst=3, now=T0 + dt.timedelta(days=2))
    assert list(RateBucket.objects.values_list("key", flat=True)) == ["new"]
