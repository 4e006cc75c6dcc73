"""Token buckets kept in the database: every process of an installation draws on the same bucket."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from lumisync.mcapi.errors import HttpProblem
from lumisync.mcapi.models import RateBucket

STALE_AFTER = timedelta(days=1)


def take(key: str, *, per_minute: int, burst: int, now: datetime | None = None) -> int | None:
    """Take one token from the bucket ``key``; None when granted, else the seconds to wait for one.

    The bucket holds at most ``burst`` tokens and refills at ``per_minute`` tokens a minute.
    """
    now = now or timezone.now()
    rate = per_minute / 60.0
    for _ in range(2):
        try:
            with transaction.atomic():
                bucket = RateBucket.objects.select_for_update().filter(key=key).first()
                if bucket is None:
                    # A bucket idle for a day has long refilled; forgetting it (as new clients come) keeps
                    # the table to the clients of the last day.
                    RateBucket.objects.filter(updated_at__lt=now - STALE_AFTER).delete()
                    RateBucket.objects.create(key=key, tokens=burst - 1, updated_at=now)
                    return None
                elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
                tokens = min(float(burst), bucket.tokens + elapsed * rate)
                granted = tokens >= 1.0
                bucket.tokens = tokens - 1.0 if granted else tokens
                bucket.updated_at = now
                bucket.save(update_fields=["tokens", "updated_at"])
                return None if granted else max(1, math.ceil((1.0 - tokens) / rate))
        except IntegrityError:
            # Another process created the bucket between our read and insert: read it again.
            continue
    return None


def enforce(key: str, *, per_minute: int, burst: int, refusal: str) -> None:
    """Take one token from the bucket ``key``, or refuse the request with 429 Too Many Requests.

    Args:
        refusal: the sentence the caller reads, with ``{wait}`` where the seconds to wait go.

    Raises:
        HttpProblem: the bucket is empty; its Retry-After header gives the seconds to wait.
    """
    wait = take(key, per_minute=per_minute, burst=burst)
    if wait is not None:
        raise HttpProblem(429, "Too Many Requests", refusal.format(wait=wait), {"Retry-After": str(wait)})
