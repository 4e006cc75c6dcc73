"""Leases that keep the runs of one integration from overlapping.

Two locks per integration:

- **the integration's lock**, held by every run that writes constituent links: an inbound run (a preview
  too) or a full outbound run. So inbound and outbound never link profiles at the same time (a profile's
  constituent ID is unique in its organization, and row 12 judges numbers against the links of the start
  of the inbound run);
- **the outbound lock**, held by every outbound run, so two outbound runs never send the same event twice.

An outbound run that finds an inbound run holding the integration's lock does not wait for it (the night's
run can last hours): it sends the opt-outs of linked profiles only, which write no link, and leaves the
rest for a later run. An inbound run that finds an outbound run holding it is refused; the scheduler tries
again at its next tick.

The holder renews its leases as it works; a holder that crashed stops renewing, its lease runs out, and the
next run takes the lock over. A holder on this machine whose process is gone is taken over at once, so a
run killed on the command line resumes as soon as it is started again. The leases live in the database, so
they hold across processes and machines.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from lumisync.datasync.models import Direction, RunLock

LEASE = timedelta(minutes=10)


class RunInProgress(Exception):
    """Another run holds a lock this run needs."""


class Lease:
    """The locks one run holds; ``opt_outs_only`` when an outbound run found an inbound run holding the
    integration's lock."""

    def __init__(self, locks: list[RunLock], *, opt_outs_only: bool = False):
        self._locks = locks
        self.opt_outs_only = opt_outs_only

    def renew(self) -> None:
        for lock in self._locks:
            RunLock.objects.filter(pk=lock.pk, holder=lock.holder).update(expires_at=timezone.now() + LEASE)


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
def _lease(integration, scope: str, direction: str) -> Iterator[RunLock]:
    holder = _holder()
    now = timezone.now()
    claim = {"holder": holder, "direction": direction, "expires_at": now + LEASE}
    with transaction.atomic():
        taken = RunLock.objects.filter(integration=integration, scope=scope, expires_at__lt=now).update(
            **claim
        )
        if not taken:
            try:
                with transaction.atomic():
                    RunLock.objects.create(integration=integration, scope=scope, **claim)
            except IntegrityError:
                current = RunLock.objects.get(integration=integration, scope=scope)
                taken_over = _dead_here(current.holder) and RunLock.objects.filter(
                    pk=current.pk, holder=current.holder
                ).update(**claim)
                if not taken_over:
                    raise RunInProgress(
                        f"An {current.direction} run of this integration is already in progress ({current.holder}, "
                        f"lease until {current.expires_at:%Y-%m-%d %H:%M:%S} UTC)."
                    ) from None
    lock = RunLock.objects.get(integration=integration, scope=scope, holder=holder)
    try:
        yield lock
    finally:
        RunLock.objects.filter(pk=lock.pk, holder=holder).delete()


@contextmanager
def run_lock(integration, direction: str, *, writes_links: bool = True) -> Iterator[Lease]:
    """Take the locks a run of ``direction`` needs, for as long as it runs.

    An outbound run that ``writes_links`` (any but a preview) also takes the integration's lock when it is
    free; when an inbound run holds it, the lease says ``opt_outs_only``.

    Raises:
        RunInProgress: an inbound run finds the integration's lock held, or an outbound run the outbound
            lock.
    """
    with ExitStack() as held:
        if direction == Direction.INBOUND:
            yield Lease([held.enter_context(_lease(integration, RunLock.Scope.INTEGRATION, direction))])
            return
        locks = [held.enter_context(_lease(integration, RunLock.Scope.OUTBOUND, direction))]
        if not writes_links:
            yield Lease(locks)
            return
        try:
            locks.append(held.enter_context(_lease(integration, RunLock.Scope.INTEGRATION, direction)))
        except RunInProgress:
            yield Lease(locks, opt_outs_only=True)
            return
        yield Lease(locks)


def is_running(integration, direction: str) -> bool:
    """Whether a live run of ``direction`` holds a lock of ``integration`` (a lease neither expired nor
    left by a process of this machine that is gone)."""
    scope = RunLock.Scope.INTEGRATION if direction == Direction.INBOUND else RunLock.Scope.OUTBOUND
    return any(
        not _dead_here(holder)
        for holder in RunLock.objects.filter(
            integration=integration, scope=scope, direction=direction, expires_at__gte=timezone.now()
        ).values_list("holder", flat=True)
    )
