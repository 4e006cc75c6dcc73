"""Runs of one integration never write constituent links at once, an opt-out never waits behind the
night's inbound run, and an outbound run that raises never stays "running"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from engine_testing import calls, linked_caller

from lumisync.datasync.engine import outbound
from lumisync.datasync.engine.inbound import run_inbound
from lumisync.datasync.engine.locks import RunInProgress, is_running, run_lock
from lumisync.datasync.engine.outbound import OPT_OUTS_ONLY, OutboundOptions, run_outbound
from lumisync.datasync.models import Direction, RunLock, SyncRun
from lumisync.subscribers import services
from lumisync.subscribers.models import Channel, Profile

pytestmark = pytest.mark.django_db


def join(organization, path, phone, email) -> Profile:
    profile, _ = services.get_or_create_profile(organization, phone, channel=Channel.WEB, email=email)
    services.opt_in(profile, path, channel=Channel.WEB, source_detail="web form")
    return profile


def linked(simulator, organization, path, phone, email, *, opted_in_in_luminate: bool) -> tuple[Profile, str]:
    cons = simulator.state.add_constituent(primary_email=email, custom_boolean50=opted_in_in_luminate)
    profile, _ = services.get_or_create_profile(organization, phone, channel=Channel.WEB)
    services.update_profile_fields(profile, constituent_id=cons)
    services.opt_in(profile, path, channel=Channel.WEB)
    return profile, cons


def opt_in_value(simulator, cons) -> bool:
    return simulator.state.get_constituent(cons)["custom_boolean50"]


def test_while_inbound_runs_an_outbound_run_sends_the_opt_outs_of_linked_profiles_only(
    make_integration, simulator, organization, paths
):
    integration = make_integration()
    leaving, leaving_cons = linked(
        simulator,
        organization,
        paths["default"],
        "2025550401",
        "leaving@example.org",
        opted_in_in_luminate=True,
    )
    services.opt_out(leaving, channel=Channel.SMS, source_detail="STOP")
    _joining, joining_cons = linked(
        simulator,
        organization,
        paths["default"],
        "2025550402",
        "joining@example.org",
        opted_in_in_luminate=False,
    )
    join(organization, paths["default"], "2025550403", "new@example.org")
    caller_cons = linked_caller(simulator, organization, "caller@example.org", "2025550404", "Sen. Lake")
    simulator.clear_request_log()

    with run_lock(integration, Direction.INBOUND):
        during = run_outbound(integration)

    assert during.status == SyncRun.Status.SUCCEEDED and during.error == OPT_OUTS_ONLY
    assert [(record.profile_id, record.category) for record in during.records.all()] == [
        (leaving.pk, "Updated")
    ]
    assert opt_in_value(simulator, leaving_cons) is False
    assert opt_in_value(simulator, joining_cons) is False, "the opt-in waits"
    assert not calls(simulator, "getUser"), "no lookup by email, which would link a profile"
    assert not calls(simulator, "takeAction") and not simulator.state.find_by_email("new@example.org")

    after = run_outbound(integration)

    assert sorted(after.records.values_list("category", flat=True)) == ["Created", "Updated", "Updated"]
    assert opt_in_value(simulator, joining_cons) is True
    assert len(simulator.state.actions(caller_cons)) == 1
    assert after.error == ""


def test_an_inbound_run_is_refused_while_a_full_outbound_run_writes_links(make_integration):
    integration = make_integration()

    with run_lock(integration, Direction.OUTBOUND) as lease:
        assert not lease.opt_outs_only
        with pytest.raises(RunInProgress, match="An outbound run of this integration is already in progress"):
            run_inbound(integration)

    assert not SyncRun.objects.filter(direction=Direction.INBOUND).exists()
    assert run_inbound(integration).status == SyncRun.Status.SUCCEEDED


def test_two_outbound_runs_never_overlap_and_a_preview_beside_an_inbound_run_previews_everything(
    make_integration, organization, paths
):
    integration = make_integration()
    join(organization, paths["default"], "2025550405", "preview@example.org")

    with run_lock(integration, Direction.OUTBOUND), pytest.raises(RunInProgress):
        run_outbound(integration)
    with run_lock(integration, Direction.INBOUND):
        preview = run_outbound(integration, OutboundOptions(dry_run=True))

    assert list(preview.records.values_list("category", flat=True)) == ["Created"]
    assert preview.error == ""


def test_a_lease_that_ran_out_is_taken_over(make_integration, organization, paths):
    integration = make_integration()
    join(organization, paths["default"], "2025550406", "late@example.org")

    with run_lock(integration, Direction.INBOUND):
        assert is_running(integration, Direction.INBOUND)
        # The holder is on another machine and stopped renewing ten minutes ago.
        RunLock.objects.update(holder="elsewhere:4242:abcd", expires_at=timezone.now() - timedelta(seconds=1))
        assert not is_running(integration, Direction.INBOUND)
        run = run_outbound(integration)

    assert run.error == "" and list(run.records.values_list("category", flat=True)) == ["Created"]


def test_an_outbound_run_that_raises_is_closed_as_failed_and_releases_its_locks(
    make_integration, organization, paths, monkeypatch
):
    integration = make_integration()
    join(organization, paths["default"], "2025550407", "bug@example.org")

    def broken(self, profile_id, **options):
        raise RuntimeError("a bug in the exporter")

    with monkeypatch.context() as patched:
        patched.setattr(outbound._Exporter, "export_profile", broken)
        with pytest.raises(RuntimeError, match="a bug in the exporter"):
            run_outbound(integration)

    failed = SyncRun.objects.get()
    assert failed.status == SyncRun.Status.FAILED and failed.finished_at is not None
    assert "a bug in the exporter" in failed.error
    assert not RunLock.objects.exists()
    assert list(run_outbound(integration).records.values_list("category", flat=True)) == ["Created"]
