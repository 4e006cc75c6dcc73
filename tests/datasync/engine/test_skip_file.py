"""An Administrator can skip a changed-records file that cannot be read, so later nights go on (audited)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from engine_testing import add, publish, sync

from lumisync.datasync.engine.inbound import skip_changed_file
from lumisync.datasync.models import AuditEntry, ProcessedFile, SyncRun
from lumisync.datasync.services import Actor
from lumisync.subscribers.models import Profile

pytestmark = pytest.mark.django_db


def corrupt(sim, name: str) -> None:
    (Path(sim.ftp_root) / name).write_bytes(b"NOT,A,CHANGED,FILE\r\n1,2,3,4\r\n")


def test_a_skipped_file_is_never_read_and_the_next_one_comes_in(make_integration, simulator):
    integration = make_integration("liberal")
    bad = publish(simulator)
    corrupt(simulator, bad)

    failed = sync(integration)
    assert failed.status == SyncRun.Status.FAILED
    assert bad in failed.error
    assert sync(integration).status == SyncRun.Status.FAILED, "an unreadable file is tried again, not dropped"

    skipped = skip_changed_file(integration, bad, Actor("ops"))
    assert skipped.skipped_by == "ops"
    entry = AuditEntry.objects.get(integration=integration, action=AuditEntry.Action.FILE_SKIPPED)
    assert bad in entry.summary and entry.actor_label == "ops"

    simulator.clock.advance(timedelta(days=1).total_seconds())
    cons = add(simulator, "next@example.org", "2025550190")
    publish(simulator)
    run = sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert bad not in run.files
    assert Profile.objects.filter(constituent_id=cons).exists()


def test_only_an_unprocessed_file_on_the_server_can_be_skipped(make_integration, simulator):
    integration = make_integration()
    name = publish(simulator)
    sync(integration)
    with pytest.raises(ValueError, match="not an unprocessed changed-records file"):
        skip_changed_file(integration, name, Actor("ops"))
    with pytest.raises(CommandError, match="not an unprocessed"):
        call_command("skip-file", "nosuch.csv", org=integration.organization.slug)
    assert not ProcessedFile.objects.exclude(skipped_by="").exists()


def test_a_file_whose_manifest_never_comes_can_be_skipped_and_the_newer_ones_come_in(
    make_integration, simulator
):
    integration = make_integration("liberal", expect_manifest=True)
    add(simulator, "late@example.org", "2025550191")
    simulator.ftp_faults.inject("missing_manifest")
    stuck = publish(simulator, manifest=True)
    simulator.clock.advance(timedelta(days=1).total_seconds())
    cons = add(simulator, "next@example.org", "2025550192")
    publish(simulator, manifest=True)

    waiting = sync(integration)
    assert waiting.files == ["(none)"] and stuck in waiting.error and "1 newer file(s) wait" in waiting.error
    assert not Profile.objects.exists(), "nothing newer is read before the older file"

    skipped = skip_changed_file(integration, stuck, Actor("ops"))
    run = sync(integration)

    assert (skipped.size, skipped.sha256, skipped.skipped_by) == (0, "", "ops")
    entry = AuditEntry.objects.get(integration=integration, action=AuditEntry.Action.FILE_SKIPPED)
    assert stuck in entry.summary and "never downloaded" in entry.summary
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stuck not in run.files and len(run.files) == 1
    assert Profile.objects.filter(constituent_id=cons).exists()
