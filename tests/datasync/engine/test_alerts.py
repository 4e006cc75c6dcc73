"""Alert e-mails to the Administrators, read from Django's locmem outbox: one per change of state of each
direction's runs and of the nightly file, never one per run, and none that a succeeding outbound run sends
about a partial inbound one."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from engine_testing import add, publish
from test_near_real_time import wait_for

from lumisync.datasync.engine import inbound, outbound, schedule
from lumisync.datasync.engine.inbound import InboundOptions
from lumisync.datasync.engine.outbound import OutboundOptions
from lumisync.datasync.models import Direction, SyncRun
from lumisync.subscribers import services
from lumisync.subscribers.models import Channel

pytestmark = pytest.mark.django_db

NIGHTLY = InboundOptions(trigger=SyncRun.Trigger.SCHEDULE)


@pytest.fixture
def administrator(admin_user):
    return admin_user.email


def subjects() -> list[str]:
    return [message.subject.split(": ", 1)[1] for message in mail.outbox]


def nightly(integration) -> SyncRun:
    return schedule.run_sync(integration, Direction.INBOUND, NIGHTLY)


def outbound_run(integration) -> SyncRun:
    return schedule.run_sync(
        integration, Direction.OUTBOUND, OutboundOptions(trigger=SyncRun.Trigger.SCHEDULE)
    )


def test_a_partial_inbound_sync_is_reported_once_and_its_recovery_once_whatever_outbound_does(
    make_integration, simulator, administrator
):
    integration = make_integration()

    def partial_night(phone):
        add(simulator, f"p{phone}@example.org", phone)
        publish(simulator)
        simulator.faults.inject("getUser", "error", code=1, count=50)
        run = nightly(integration)
        simulator.faults.clear()
        assert run.status == SyncRun.Status.PARTIAL
        return run

    partial_night("2025550301")
    assert outbound_run(integration).status == SyncRun.Status.SUCCEEDED
    partial_night("2025550302")
    assert outbound_run(integration).status == SyncRun.Status.SUCCEEDED
    assert subjects() == ["the inbound sync (Luminate → platform) is partial"]
    assert mail.outbox[0].to == [administrator]
    assert "Unable to Update: 1" in mail.outbox[0].body

    add(simulator, "fine@example.org", "2025550303")
    publish(simulator)
    assert nightly(integration).status == SyncRun.Status.SUCCEEDED
    assert outbound_run(integration).status == SyncRun.Status.SUCCEEDED

    assert subjects() == [
        "the inbound sync (Luminate → platform) is partial",
        "the inbound sync (Luminate → platform) has recovered",
    ]


def test_a_failed_outbound_sync_is_reported_once_until_it_recovers(
    make_integration, simulator, organization, paths, administrator
):
    integration = make_integration()
    services.opt_in(
        services.get_or_create_profile(
            organization, "2025550304", channel=Channel.WEB, email="a@example.org"
        )[0],
        paths["default"],
        channel=Channel.WEB,
    )
    simulator.faults.inject("getUser", "error", code=2)
    assert outbound_run(integration).status == SyncRun.Status.FAILED
    assert outbound_run(integration).status == SyncRun.Status.FAILED
    assert subjects() == ["the outbound sync (Platform → Luminate) has failed"]

    simulator.faults.clear()
    assert outbound_run(integration).status == SyncRun.Status.SUCCEEDED

    assert subjects()[1:] == ["the outbound sync (Platform → Luminate) has recovered"]
    assert "after an earlier failed state" in mail.outbox[1].body


def test_a_missing_nightly_file_is_reported_even_on_a_partial_night_and_its_return_once(
    make_integration, simulator, administrator
):
    integration = make_integration()
    cons = add(simulator, "carried@example.org", "2025550305")
    publish(simulator)
    simulator.faults.inject("getUser", "error", code=1, count=50)
    nightly(integration)
    mail.outbox.clear()

    # No new file; the constituent carried over fails again: partial, and the file is missing.
    missing = nightly(integration)
    nightly(integration)

    assert missing.status == SyncRun.Status.PARTIAL and missing.error.startswith(
        "No new changed-records file"
    )
    assert subjects() == ["no changed-records file tonight"]
    simulator.faults.clear()
    simulator.state.update_constituent(cons, **{"name.first": "Back"})
    publish(simulator)
    assert nightly(integration).status == SyncRun.Status.SUCCEEDED
    assert subjects()[1:] == [
        "the inbound sync (Luminate → platform) has recovered",
        "the changed-records file is back",
    ]


def test_a_run_started_by_hand_that_finds_no_new_file_is_no_missing_night(
    make_integration, simulator, administrator
):
    integration = make_integration()

    run = schedule.run_sync(integration, Direction.INBOUND, InboundOptions())

    assert run.error.startswith("No new changed-records file")
    assert mail.outbox == []


def test_the_sync_command_records_the_state_and_alerts_like_the_scheduler(
    make_integration, simulator, organization, administrator
):
    integration = make_integration()
    add(simulator, "cli@example.org", "2025550306")
    publish(simulator)
    simulator.faults.inject("getUser", "error", code=2)

    with pytest.raises(CommandError, match="failed"):
        call_command("sync", "inbound", "--org", organization.slug, stdout=io.StringIO())

    assert subjects() == ["the inbound sync (Luminate → platform) has failed"]
    assert integration.health.get(aspect="inbound").state == "failed"


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_run_that_raises_is_closed_as_failed_and_alerted(
    make_integration, organization, paths, administrator, monkeypatch
):
    integration = make_integration()
    services.opt_in(
        services.get_or_create_profile(
            organization, "2025550307", channel=Channel.WEB, email="b@example.org"
        )[0],
        paths["default"],
        channel=Channel.WEB,
    )

    def broken(self, profile_id, **options):
        raise RuntimeError("a bug in the exporter")

    monkeypatch.setattr(outbound._Exporter, "export_profile", broken)

    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=integration.organization.zone), tick=True):
        assert schedule.tick() == [(integration.pk, Direction.OUTBOUND)]
        assert wait_for(lambda: mail.outbox), "no alert within 20 s"

    run = SyncRun.objects.get(integration=integration, direction=Direction.OUTBOUND)
    assert run.status == SyncRun.Status.FAILED and "a bug in the exporter" in run.error
    assert subjects() == ["the outbound sync (Platform → Luminate) has failed"]
    assert "a bug in the exporter" in mail.outbox[0].body


def test_an_inbound_run_that_raises_is_closed_as_failed_alerted_and_its_work_taken_over_next_night(
    make_integration, simulator, administrator, monkeypatch
):
    integration = make_integration()
    cons = add(simulator, "crash@example.org", "2025550308")
    publish(simulator)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(inbound, "_work", broken)
        with pytest.raises(RuntimeError):
            nightly(integration)

    failed = SyncRun.objects.get(integration=integration)
    assert failed.status == SyncRun.Status.FAILED and "the database went away" in failed.error
    assert subjects() == ["the inbound sync (Luminate → platform) has failed"]
    next_night = nightly(integration)
    assert next_night.records.get(constituent_id=cons).category == "Created"
    # The failed run had taken the night's file: the next night finds none of its own.
    assert subjects()[1:] == [
        "the inbound sync (Luminate → platform) has recovered",
        "no changed-records file tonight",
    ]
