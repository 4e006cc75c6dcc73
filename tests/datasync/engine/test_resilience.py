"""What must hold whatever happens to a run: one welcome per subscription and none at night, a re-run that
changes nothing, a killed run that resumes without doing anything twice, outbound effects applied exactly
once under injected faults and crashes, and a preview that writes nothing."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone
from engine_testing import add, called_ids, linked_caller, luminate_writes, publish, sync, welcomes

from lumisync.datasync.engine.outbound import run_outbound
from lumisync.datasync.models import OutboundItem, ProcessedFile, SyncRecord, SyncRun
from lumisync.messaging import services as outbox
from lumisync.messaging.models import Message
from lumisync.subscribers import services
from lumisync.subscribers.models import Channel, ConsentEvent, Profile, Subscription
from support.database import shared_database_url

SCRIPT = Path(__file__).with_name("sync_process.py")


def wait_for(condition, what: str, timeout: float = 60.0, process: subprocess.Popen | None = None):
    """Poll ``condition``; with ``process``, stop at once (with its output) if that process has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the sync process ended ({process.returncode}) before {what}:\n{written_by(process)}"
            )
        time.sleep(0.05)
    output = f"; the sync process wrote:\n{written_by(process)}" if process is not None else ""
    raise AssertionError(f"gave up waiting for {what}{output}")


def start_sync(organization, *args) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "LUMISYNC_ENCRYPTION_KEYS": django_settings.LUMISYNC_ENCRYPTION_KEYS,
    }
    # A file, not a pipe: a pipe nobody reads blocks the process once its buffer is full. It lives as long
    # as the process object, which reads it back when the process fails.
    log = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args, "--org", organization.slug],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    process.log = log
    return process


def written_by(process: subprocess.Popen) -> str:
    process.log.seek(0)
    return process.log.read().decode()[-4000:]


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


# --- welcome messages ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_overnight_run_texts_nobody_at_night_and_welcomes_once_in_the_window(
    make_integration, simulator, organization
):
    integration = make_integration("liberal")
    east = add(simulator, "east@example.org", "2025550190")
    west = add(simulator, "west@example.org", "4155550191")
    publish(simulator)
    night = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # 03:00 in New York, midnight in San Francisco

    with time_machine.travel(night, tick=True):
        run = sync(integration)
        assert outbox.send_due_messages().sent == 0, "nobody is texted at night"

    east_profile = Profile.objects.get(constituent_id=east)
    west_profile = Profile.objects.get(constituent_id=west)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    east_welcome = Message.objects.get(profile=east_profile, kind=Message.Kind.WELCOME)
    west_welcome = Message.objects.get(profile=west_profile, kind=Message.Kind.WELCOME)
    assert east_welcome.not_before == datetime(2026, 11, 27, 14, 0, tzinfo=UTC), "09:00 in New York"
    assert west_welcome.not_before == datetime(2026, 11, 27, 17, 0, tzinfo=UTC), "09:00 in San Francisco"

    services.opt_out(west_profile, channel=Channel.SMS, source_detail="STOP")
    summary = outbox.send_due_messages(now=datetime(2026, 11, 27, 17, 1, tzinfo=UTC))
    assert (summary.sent, summary.cancelled) == (1, 1), "consent is checked again when sending"
    assert welcomes() == 2


@pytest.mark.django_db
def test_a_re_run_over_the_same_file_changes_nothing(make_integration, simulator, tmp_path):
    integration = make_integration("liberal")
    for n in range(5):
        add(simulator, f"again{n}@example.org", f"20255501{n:02d}", opted_in=n % 2 == 0)
    name = publish(simulator)
    path = tmp_path / Path(name).name
    path.write_bytes((Path(simulator.ftp_root) / name).read_bytes())
    sync(integration)
    state = (
        list(Profile.objects.order_by("pk").values()),
        list(Subscription.objects.order_by("pk").values()),
        Message.objects.count(),
        ConsentEvent.objects.count(),
    )
    simulator.clear_request_log()

    again = sync(integration, files=(path,))

    assert set(Counter(r.category for r in again.records.all())) <= {"No New Changes", "No Difference"}
    assert again.done == 5
    after = (
        list(Profile.objects.order_by("pk").values()),
        list(Subscription.objects.order_by("pk").values()),
        Message.objects.count(),
        ConsentEvent.objects.count(),
    )
    assert after == state
    assert not luminate_writes(simulator)


# --- kill and resume -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_killed_inbound_run_resumes_and_processes_every_constituent_exactly_once(
    make_integration, simulator, organization, settings
):
    # No fault is injected here: a busy machine must not turn a slow answer into Unable to Update.
    settings.LUMISYNC_LUMINATE_CLIENT = {**settings.LUMISYNC_LUMINATE_CLIENT, "read_timeout": 30.0}
    integration = make_integration("liberal", api_concurrency=4)
    for n in range(2500):
        simulator.state.add_constituent(
            primary_email=f"bulk{n}@example.org", mobile_phone=f"617785{n:04d}", custom_boolean50=n % 3 > 0
        )
    publish(simulator, mode="full")
    simulator.set_latency(8)

    process = start_sync(organization, "inbound")
    wait_for(
        lambda: SyncRun.objects.filter(done__gte=1000, status=SyncRun.Status.RUNNING).exists(),
        "two chunks done",
        timeout=300,
        process=process,
    )
    kill(process)
    killed = SyncRun.objects.get()
    assert killed.status == SyncRun.Status.RUNNING and 1000 <= killed.done < killed.total

    resumed = sync(integration)

    assert resumed.pk == killed.pk, "the same run resumes"
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    ids = list(SyncRecord.objects.filter(run=resumed).values_list("constituent_id", flat=True))
    assert len(ids) == len(set(ids)) == resumed.total == resumed.done == 2500
    assert ProcessedFile.objects.count() == 1
    created = resumed.counts["Created"]
    assert Profile.objects.count() == created
    assert Profile.objects.exclude(constituent_id=None).values("constituent_id").distinct().count() == created
    active = Subscription.objects.filter(status=Subscription.Status.ACTIVE).count()
    assert active == created
    per_subscription = Counter(
        Message.objects.filter(kind=Message.Kind.WELCOME).values_list("subscription_id", flat=True)
    )
    assert len(per_subscription) == active and set(per_subscription.values()) == {1}
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.OPT_IN).count() == active


KILLED_WITH_A_WORKER = """
import multiprocessing, os, signal, django
django.setup()
from lumisync.datasync.engine.inbound import _FileValueReader
_FileValueReader("US").use_worker()
print(*[child.pid for child in multiprocessing.active_children()], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def ended(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return True


def test_the_worker_process_reading_file_values_ends_with_a_killed_engine(tmp_path):
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "lumisync.settings"}
    # Files, not pipes: a worker left behind would keep a pipe open, and reading it would never end.
    output, errors = tmp_path / "out", tmp_path / "err"
    with output.open("w") as out, errors.open("w") as err:
        engine = subprocess.Popen(
            [sys.executable, "-c", KILLED_WITH_A_WORKER], env=environment, stdout=out, stderr=err
        )
        assert engine.wait(timeout=60) == -signal.SIGKILL, errors.read_text()
    [worker] = [int(pid) for pid in output.read_text().split()]

    wait_for(lambda: ended(worker), "the orphaned worker to end", timeout=20)


# --- outbound under faults -------------------------------------------------------------------------------

FAULTS = {
    "code-1": {"kind": "error", "code": 1},
    "http-503": {"kind": "http", "status": 503},
    "hang": {"kind": "hang"},
    "reset": {"kind": "reset"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_outbound_under_faults_applies_every_effect_exactly_once(
    make_integration, simulator, organization, paths, fault
):
    integration = make_integration()
    known = simulator.state.add_constituent(primary_email="known@example.org", custom_boolean50=False)
    linked = simulator.state.add_constituent(primary_email="linked2@example.org", custom_boolean50=False)
    fresh, _ = services.get_or_create_profile(
        organization, "2025550192", channel=Channel.WEB, email="fresh@example.org"
    )
    found, _ = services.get_or_create_profile(
        organization, "2025550193", channel=Channel.WEB, email="known@example.org"
    )
    caller, _ = services.get_or_create_profile(organization, "2025550194", channel=Channel.WEB)
    services.update_profile_fields(caller, constituent_id=linked)
    for profile in (fresh, found, caller):
        services.opt_in(profile, paths["default"], channel=Channel.WEB)
    services.record_call(caller, alert_id="4001", recipient_name="Rep. Stone", started_at=timezone.now())
    params = {key: value for key, value in fault.items() if key != "kind"}
    simulator.faults.inject(None, fault["kind"], count=4, **params)

    for _ in range(6):
        run_outbound(integration)
        if not OutboundItem.objects.exclude(status=OutboundItem.Status.DELIVERED).exists():
            break
        OutboundItem.objects.update(
            next_attempt_at=timezone.now() - timedelta(seconds=1),
            updated_at=timezone.now() - timedelta(minutes=5),
        )

    assert set(OutboundItem.objects.values_list("status", flat=True)) == {OutboundItem.Status.DELIVERED}
    fresh.refresh_from_db()
    assert simulator.state.find_by_email("fresh@example.org") == [fresh.constituent_id]
    for cons in (fresh.constituent_id, known, linked):
        assert simulator.state.get_constituent(cons)["custom_boolean50"] is True
    assert len(simulator.state.actions(linked)) == 1
    assert simulator.faults.rules() == [], "every injected fault was met"
    answered = [entry for entry in simulator.request_log if entry["fault"] is None and entry["status"] == 200]
    assert [entry["method"] for entry in answered].count("takeAction") == 1
    assert [entry["method"] for entry in answered].count("create") == 1


@pytest.mark.django_db
def test_a_create_whose_answer_is_lost_is_not_created_twice(make_integration, simulator, organization, paths):
    integration = make_integration()
    profile, _ = services.get_or_create_profile(
        organization, "2025550195", channel=Channel.WEB, email="slow@example.org"
    )
    services.opt_in(profile, paths["default"], channel=Channel.WEB)
    simulator.faults.inject("create", "latency", ms=1500, count=1)

    run_outbound(integration)
    wait_for(lambda: len(simulator.state.find_by_email("slow@example.org")) >= 1, "the slow create")
    time.sleep(0.6)
    OutboundItem.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    run_outbound(integration)

    profile.refresh_from_db()
    assert simulator.state.find_by_email("slow@example.org") == [profile.constituent_id]
    assert OutboundItem.objects.get().status == OutboundItem.Status.DELIVERED


@pytest.mark.django_db
def test_a_call_whose_request_reached_luminate_unanswered_is_not_sent_again(
    make_integration, simulator, organization
):
    integration = make_integration()
    cons = linked_caller(simulator, organization, "slowcall@example.org", "2025550196", "Sen. Slow")
    simulator.faults.inject("takeAction", "latency", ms=1500, count=1)

    first = run_outbound(integration)
    assert OutboundItem.objects.get().status == OutboundItem.Status.IN_FLIGHT
    assert "in flight" in first.records.get().reason
    wait_for(lambda: simulator.state.actions(cons), "the slow takeAction to land")
    # Stamped a little ahead, so that the mark is still young when the run looks, however busy the machine.
    OutboundItem.objects.update(updated_at=timezone.now() + timedelta(seconds=30))
    run_outbound(integration)
    assert OutboundItem.objects.get().status == OutboundItem.Status.IN_FLIGHT, (
        "a mark younger than the client's timeouts is left alone: the request may still be on its way"
    )

    OutboundItem.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    run_outbound(integration)

    assert OutboundItem.objects.get().status == OutboundItem.Status.DELIVERED
    assert len(simulator.state.actions(cons)) == 1
    assert len(called_ids(simulator, "takeAction")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_call_in_flight_when_the_process_was_killed_is_reconciled_not_resent(
    make_integration, simulator, organization
):
    integration = make_integration()
    cons = linked_caller(simulator, organization, "killed@example.org", "2025550197", "Sen. Kill")
    simulator.faults.inject("takeAction", "latency", ms=2000, count=1)

    process = start_sync(organization, "outbound")
    wait_for(
        lambda: OutboundItem.objects.filter(status=OutboundItem.Status.IN_FLIGHT).exists(),
        "the call in flight",
        process=process,
    )
    # The item is marked before the request leaves; kill only once Luminate holds the request.
    wait_for(lambda: simulator.in_flight, "the call to reach Luminate", process=process)
    kill(process)
    wait_for(lambda: simulator.state.actions(cons), "Luminate to record the call")
    OutboundItem.objects.update(updated_at=timezone.now() - timedelta(minutes=5))

    run_outbound(integration)
    run_outbound(integration)

    assert OutboundItem.objects.get().status == OutboundItem.Status.DELIVERED
    assert len(simulator.state.actions(cons)) == 1


@pytest.mark.django_db
def test_a_call_marked_in_flight_that_never_reached_luminate_is_sent_once(
    make_integration, simulator, organization
):
    integration = make_integration()
    cons = linked_caller(simulator, organization, "lost@example.org", "2025550198", "Sen. Lost")
    simulator.faults.inject("takeAction", "hang", count=1)

    run_outbound(integration)
    assert OutboundItem.objects.get().status == OutboundItem.Status.IN_FLIGHT
    assert not simulator.state.actions(cons)
    OutboundItem.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    run_outbound(integration)
    run_outbound(integration)

    assert OutboundItem.objects.get().status == OutboundItem.Status.DELIVERED
    assert len(simulator.state.actions(cons)) == 1


# --- preview and Try one constituent ---------------------------------------------------------------------


@pytest.mark.django_db
def test_inbound_preview_writes_nothing_and_counts_who_would_be_texted_without_opt_in(
    make_integration, simulator
):
    integration = make_integration("liberal")
    add(simulator, "yes@example.org", "2025550140", opted_in=True)
    add(simulator, "no1@example.org", "2025550141", opted_in=False)
    add(simulator, "no2@example.org", "2025550142", opted_in=False)
    publish(simulator)
    simulator.clear_request_log()

    preview = sync(integration, dry_run=True)

    assert preview.dry_run and preview.status == SyncRun.Status.SUCCEEDED
    assert Counter(r.category for r in preview.records.all()) == {"Created": 3}
    assert preview.would_text_without_opt_in == 2
    assert not Profile.objects.exists() and not Message.objects.exists()
    assert not ProcessedFile.objects.exists(), "the file is not marked processed"
    assert not luminate_writes(simulator)

    real = sync(integration)
    assert real.counts == {"Created": 3}


@pytest.mark.django_db
def test_try_one_constituent_shows_what_would_happen_and_writes_nothing(make_integration, simulator):
    integration = make_integration("conservative")
    yes = add(simulator, "one@example.org", "2025550143", opted_in=True)
    no = add(simulator, "none@example.org", "2025550144", opted_in=False)
    simulator.clear_request_log()

    by_id, by_email = io.StringIO(), io.StringIO()
    call_command("sync", "inbound", "--org", integration.organization.slug, "--one", yes, stdout=by_id)
    call_command(
        "sync",
        "inbound",
        "--org",
        integration.organization.slug,
        "--one",
        "none@example.org",
        stdout=by_email,
    )

    assert f"{yes}: Created." in by_id.getvalue() and "preview" in by_id.getvalue()
    assert f"{no}: No Import. Not opted in" in by_email.getvalue()
    assert not Profile.objects.exists() and not Message.objects.exists()
    assert not luminate_writes(simulator)
    assert not SyncRun.objects.filter(dry_run=False).exists()
