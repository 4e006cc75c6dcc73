"""The inbound sync end to end against the simulator over real HTTP and FTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lumisync.datasync.engine.inbound import InboundOptions, run_inbound
from lumisync.datasync.models import LinkSnapshot, SyncRun
from lumisync.messaging.models import Message
from lumisync.subscribers.models import Channel, Profile, Subscription

pytestmark = pytest.mark.django_db


def add(sim, email, phone, opted_in=True, **fields):
    return sim.state.add_constituent(
        primary_email=email,
        mobile_phone=phone,
        custom_boolean50=opted_in,
        **{"name.first": fields.pop("first", "Pat"), "name.last": fields.pop("last", "Lee")},
        **fields,
    )


def records(run):
    return {record.constituent_id: record for record in run.records.all()}


def test_conservative_run_creates_opted_in_profiles_and_welcomes_them_once(
    make_integration, simulator, paths
):
    integration = make_integration("conservative")
    jane = add(simulator, "jane@example.org", "2025550143", first="Jane")
    ned = add(simulator, "ned@example.org", "2025550144", opted_in=False)
    nomobile = add(simulator, "nomobile@example.org", "")
    simulator.write_changed_file(mode="liberal")

    run = run_inbound(integration)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    rows = records(run)
    assert rows[jane].category == "Created"
    assert rows[ned].category == "No Import" and "Not opted in" in rows[ned].reason
    assert nomobile not in rows, "the export's operation leaves out records without a mobile number"
    profile = Profile.objects.get(constituent_id=jane)
    assert (profile.phone_number, profile.first_name, profile.email) == (
        "+12025550143",
        "Jane",
        "jane@example.org",
    )
    assert profile.source == Channel.LUMINATE
    sub = Subscription.objects.get(profile=profile)
    assert sub.status == Subscription.Status.ACTIVE and sub.opt_in_path == paths["default"]
    assert sub.activated_by.channel == Channel.LUMINATE
    assert Message.objects.filter(profile=profile, kind=Message.Kind.WELCOME).count() == 1
    assert LinkSnapshot.objects.get(constituent_id=jane).opted_in is True

    again = run_inbound(integration)
    assert again.total == 0, "the processed file is not read twice"
    # The next night's file carries the same records again.
    simulator.clock.advance(24 * 3600)
    simulator.write_changed_file(mode="liberal", since=simulator.clock.now() - timedelta(days=7))
    rerun = run_inbound(integration)
    assert records(rerun)[jane].category == "No New Changes"
    assert Message.objects.filter(kind=Message.Kind.WELCOME).count() == 1


def test_same_file_given_twice_changes_nothing(make_integration, simulator, tmp_path):
    integration = make_integration("liberal")
    cons = add(simulator, "kim@example.org", "2025550150", opted_in=False)
    name = simulator.write_changed_file(mode="liberal")
    path = tmp_path / name
    path.write_bytes((Path(simulator.ftp_root) / name).read_bytes())

    first = run_inbound(integration, InboundOptions(files=(path,)))
    second = run_inbound(integration, InboundOptions(files=(path,)))

    assert records(first)[cons].category == "Created"
    assert records(second)[cons].category in ("No New Changes", "No Difference")
    assert Message.objects.filter(kind=Message.Kind.WELCOME).count() == 1
    assert Profile.objects.count() == 1


def test_a_profile_the_sync_updates_shows_the_change_in_its_updated_time(make_integration, simulator):
    """API clients ask for the profiles changed since a moment (``updated_from``): a change made by the sync
    must be among them."""
    integration = make_integration("liberal")
    jane = add(simulator, "jane@example.org", "2025550143", first="Jane")
    simulator.write_changed_file(mode="liberal")
    run_inbound(integration)
    created = Profile.objects.get(constituent_id=jane).updated_at

    simulator.clock.advance(24 * 3600)
    simulator.state.update_constituent(jane, **{"name.first": "Janet"})
    simulator.write_changed_file(mode="liberal", since=simulator.clock.now() - timedelta(days=1))
    rerun = run_inbound(integration)

    assert records(rerun)[jane].category == "Updated", records(rerun)[jane].reason
    janet = Profile.objects.get(constituent_id=jane)
    assert janet.first_name == "Janet" and janet.updated_at > created
