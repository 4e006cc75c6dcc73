"""A lease per integration and direction, so that two runs of the same sync never overlap.

The holder renews the lease as it works; a holder that crashed stops renewing, its lease runs out, and the
next run takes the lock over. A holder on this machine whose process is gone is taken over at once, so a
run killed on the command line resumes as soon as it is started again. It lives in the database, so it
holds across processes and machines.
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from lumisync.datasync.models import RunLock

LEASE = timedelta(minutes=10)


class RunInProgress(Exception):
    """Another run of this integration and direction holds the lock."""


class Lease:
    def __init__(self, lock: RunLock):
        self._lock = lock

    def renew(self) -> None:
        RunLock.objects.filter(pk=self._lock.pk, holder=self._lock.holder).update(
            expires_at=timezone.now() + LEASE
        )


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` names a process of this machine that no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def run_lock(integration, direction: str):
    holder = _holder()
    now = timezone.now()
    with transaction.atomic():
        taken = RunLock.objects.filter(
            integration=integration, direction=direction, expires_at__lt=now
        ).update(holder=holder, expires_at=now + LEASE)
        if not taken:
            try:
                with transaction.atomic():
                    RunLock.objects.create(
                        integration=integration, direction=direction, holder=holder, expires_at=now + LEASE
                    )
            except IntegrityError:
                current = RunLock.objects.get(integration=integration, direction=direction)
                taken_over = _dead_here(current.holder) and RunLock.objects.filter(
                    pk=current.pk, holder=current.holder
                ).update(holder=holder, expires_at=now + LEASE)
                if not taken_over:
                    raise RunInProgress(
                        f"A {direction} run of this integration is already in progress ({current.holder}, "
                        f"lease until {current.expires_at:%Y-%m-%d %H:%M:%S} UTC)."
                    ) from None
    lock = RunLock.objects.get(integration=integration, direction=direction, holder=holder)
    try:
        yield Lease(lock)
    finally:
        RunLock.objects.filter(pk=lock.pk, holder=holder).delete()
