"""The inbound sync under awkward input and awkward nights: repeated and conflicting records, numbers that
move or swap, consent given, withdrawn and refused, odd values, and runs that stop half-way. Each test
asserts what policy.md says must happen, and that nothing is lost."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from engine_testing import add, called_ids, category, change, publish, publish_rows, rows, sync, welcomes

from lumisync.datasync.engine import inbound, mapping
from lumisync.datasync.models import FieldMapping, Integration, LinkSnapshot, SyncRecord, SyncRun
from lumisync.messaging.models import Message
from lumisync.subscribers import services
from lumisync.subscribers.fields import PROFILE_FIELDS
from lumisync.subscribers.models import Channel, ConsentEvent, Profile, Subscription

pytestmark = pytest.mark.django_db

BOTH = pytest.mark.parametrize("sync_type", ["liberal", "conservative"])
FILE_HEADINGS = (
    "CONS_ID",
    "PRIMARY_EMAIL",
    "FIRST_NAME",
    "LAST_NAME",
    "MOBILE_PHONE",
    "MODIFY_DATE",
    "SMS_OPT_IN",
)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of two constituents, so that a handful of records spans several chunks."""
    monkeypatch.setattr(inbound, "CHUNK_SIZE", 2)


def linked(cons_id: str) -> Profile:
    return Profile.objects.get(constituent_id=cons_id)


def synced_status(profile: Profile, paths, path: str = "default") -> str | None:
    sub = Subscription.objects.filter(profile=profile, campaign=paths[path].campaign).first()
    return sub.status if sub else None


def file_mode(integration: Integration) -> Integration:
    """Values from the file itself: every mapped constituent value needs a heading in it."""
    FieldMapping.objects.filter(integration=integration, field__startswith="address_").delete()
    FieldMapping.objects.filter(integration=integration, field="opt_in_status").update(
        csv_heading="SMS_OPT_IN"
    )
    Integration.objects.filter(pk=integration.pk).update(take_values_from_file=True)
    integration.refresh_from_db()
    assert integration.field_mappings.filter(field="opt_in_status", csv_heading="SMS_OPT_IN").exists()
    return integration


def publish_bytes(sim, data: bytes) -> str:
    name = sim.write_changed_file(mode="full")
    (Path(sim.ftp_root) / name).write_bytes(data)
    return name


def next_day(sim) -> None:
    """Files are named by date: a second file of the same test needs another day."""
    sim.clock.advance(24 * 3600)


def all_fields_fit() -> None:
    for profile in Profile.objects.all():
        for name in (*PROFILE_FIELDS, "constituent_id", "phone_number"):
            value = getattr(profile, name) or ""
            limit = Profile._meta.get_field(name).max_length
            assert len(value) <= limit, (
                f"profile {profile.pk} {name} is {len(value)} characters (limit {limit})"
            )


# --- file mode: headings, encodings, odd and repeated values ---------------------------------------------


def test_file_mode_reads_label_headings_behind_a_bom_with_crlf(make_integration, simulator):
    integration = file_mode(make_integration("conservative"))
    text = (
        "\ufeffConstituent ID,Email,First Name,Last Name,Mobile Phone,Modification Time,SMS Opt In\r\n"
        "5001,Zoe.Smith@EXAMPLE.Org,Zoë,Ñúñez,(202) 555-0140,2026-11-26 22:00:00,true\r\n"
        "5002,declined@example.org,Ned,Lee,2025550141,2026-11-26 22:00:00,false\r\n"
    )
    publish_bytes(simulator, text.encode("utf-8"))
    simulator.clear_request_log()

    run = sync(integration)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert category(run, "5001") == "Created"
    assert category(run, "5002") == "No Import", "the file's opt-in column is read (Conservative)"
    assert not called_ids(simulator, "getUser"), "file mode never asks getUser"
    profile = linked("5001")
    assert (profile.phone_number, profile.first_name, profile.last_name) == ("+12025550140", "Zoë", "Ñúñez")
    assert profile.email == "Zoe.Smith@example.org", "the domain is lowercased, the local part kept"
    assert welcomes(profile) == 1

    next_day(simulator)
    publish_bytes(simulator, text.replace("EXAMPLE.Org", "example.org").encode("utf-8"))
    again = sync(integration)
    assert category(again, "5001") in ("No New Changes", "No Difference")
    assert welcomes() == 1


@pytest.mark.parametrize("newer_first", [False, True], ids=["older-row-first", "newer-row-first"])
@pytest.mark.parametrize("apart", [False, True], ids=["same-chunk", "chunks-apart"])
def test_file_mode_a_repeated_constituent_takes_the_newest_rows_values(
    make_integration, simulator, small_chunks, apart, newer_first
):
    integration = file_mode(make_integration("liberal"))
    older = {"CONS_ID": "6001", "PRIMARY_EMAIL": "old@example.org", "FIRST_NAME": "Old",
             "MOBILE_PHONE": "2025550150", "MODIFY_DATE": "2026-11-26 08:00:00", "SMS_OPT_IN": "true"}  # fmt: skip
    newer = {
        **older,
        "PRIMARY_EMAIL": "new@example.org",
        "FIRST_NAME": "New",
        "MODIFY_DATE": "2026-11-26 20:00:00",
    }
    filler = [
        {
            "CONS_ID": str(6100 + n),
            "PRIMARY_EMAIL": f"f{n}@example.org",
            "MOBILE_PHONE": f"20255502{n:02d}",
            "MODIFY_DATE": "2026-11-26 09:00:00",
            "SMS_OPT_IN": "true",
        }
        for n in range(5 if apart else 0)
    ]
    first, last = (newer, older) if newer_first else (older, newer)
    publish_rows(simulator, [first, *filler, last], FILE_HEADINGS)

    run = sync(integration)

    assert category(run, "6001") == "Created"
    profile = linked("6001")
    assert (profile.first_name, profile.email) == ("New", "new@example.org"), "the newer row's values apply"
    assert LinkSnapshot.objects.get(constituent_id="6001").fields["first_name"] == "New"


def test_file_mode_two_files_in_one_run_the_later_files_values_win(make_integration, simulator):
    integration = file_mode(make_integration("liberal"))
    base = {
        "CONS_ID": "6201",
        "PRIMARY_EMAIL": "two@example.org",
        "MOBILE_PHONE": "2025550160",
        "SMS_OPT_IN": "1",
    }
    publish_rows(
        simulator, [{**base, "FIRST_NAME": "Monday", "MODIFY_DATE": "2026-11-26 08:00:00"}], FILE_HEADINGS
    )
    next_day(simulator)
    publish_rows(
        simulator, [{**base, "FIRST_NAME": "Tuesday", "MODIFY_DATE": "2026-11-27 08:00:00"}], FILE_HEADINGS
    )

    run = sync(integration)

    assert len(run.files) == 2
    assert linked("6201").first_name == "Tuesday", "the older file's values must not win"


def test_odd_values_are_reported_per_record_and_never_stop_the_run(make_integration, simulator):
    integration = file_mode(make_integration("liberal"))
    good = {"MODIFY_DATE": "2026-11-26 08:00:00", "SMS_OPT_IN": "yes", "LAST_NAME": "Lee"}
    publish_rows(
        simulator,
        [
            {**good, "CONS_ID": "7001", "PRIMARY_EMAIL": "long@example.org", "MOBILE_PHONE": "2025550170",
             "FIRST_NAME": "A" * 150},
            {**good, "CONS_ID": "7002", "PRIMARY_EMAIL": "blank@example.org", "MOBILE_PHONE": "   "},
            {**good, "CONS_ID": "7003", "PRIMARY_EMAIL": "   ", "MOBILE_PHONE": "2025550172"},
            {**good, "CONS_ID": "7004", "PRIMARY_EMAIL": "uni@example.org", "MOBILE_PHONE": "2025550173",
             "FIRST_NAME": "李小龍 🌊", "LAST_NAME": "  O'Brien-Ğ  "},
            {**good, "CONS_ID": "7005", "PRIMARY_EMAIL": ("x" * 250) + "@example.org",
             "MOBILE_PHONE": "2025550174"},
            {**good, "CONS_ID": "7006", "PRIMARY_EMAIL": "fine@example.org", "MOBILE_PHONE": "2025550175"},
            {**good, "CONS_ID": "9" * 40, "PRIMARY_EMAIL": "bigid@example.org", "MOBILE_PHONE": "2025550176"},
        ],
        FILE_HEADINGS,
    )  # fmt: skip

    run = sync(integration)

    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), run.error
    found = rows(run)
    assert set(found) == {"7001", "7002", "7003", "7004", "7005", "7006", "9" * 32}, (
        "every record is reported"
    )
    assert found["9" * 32].category == "No Import" and "constituent_id" in found["9" * 32].reason
    assert found["7001"].category in ("No Import", "Processing Error")
    assert "first_name" in found["7001"].reason, "the reason names the field"
    assert found["7005"].category in ("No Import", "Processing Error") and "email" in found["7005"].reason
    assert found["7002"].category == "No Import" and "No mobile" in found["7002"].reason
    assert found["7003"].category == "No Import" and "email" in found["7003"].reason
    assert found["7004"].category == "Created"
    assert (linked("7004").first_name, linked("7004").last_name) == ("李小龍 🌊", "O'Brien-Ğ")
    assert found["7006"].category == "Created"
    all_fields_fit()


class CountingPool(ProcessPoolExecutor):
    """A real worker-process pool that counts the batches handed to it."""

    submitted = 0

    def submit(self, *args, **kwargs):
        CountingPool.submitted += 1
        return super().submit(*args, **kwargs)


@pytest.mark.parametrize("worker", [False, True], ids=["in-process", "worker-process"])
def test_file_mode_values_read_in_a_worker_process_give_the_same_outcomes(
    make_integration, simulator, small_chunks, monkeypatch, caplog, worker
):
    integration = file_mode(make_integration("conservative"))
    monkeypatch.setattr(inbound, "PROCESS_MIN_CHUNKS", 1 if worker else 10**9)
    monkeypatch.setattr(inbound, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(CountingPool, "submitted", 0)
    good = {"MODIFY_DATE": "2026-11-26 08:00:00", "SMS_OPT_IN": "true", "FIRST_NAME": "Ann"}
    publish_rows(
        simulator,
        [
            {**good, "CONS_ID": "7101", "PRIMARY_EMAIL": "Ann@EXAMPLE.org", "MOBILE_PHONE": "(202) 555-0190"},
            {**good, "CONS_ID": "7102", "PRIMARY_EMAIL": "uk@example.org", "MOBILE_PHONE": "+44 7400 123458"},
            {**good, "CONS_ID": "7103", "PRIMARY_EMAIL": "fixed@example.org", "MOBILE_PHONE": "+44 20 7946 0958"},
            {**good, "CONS_ID": "7104", "PRIMARY_EMAIL": "not-an-address", "MOBILE_PHONE": "2025550191"},
            {**good, "CONS_ID": "7105", "PRIMARY_EMAIL": "no@example.org", "MOBILE_PHONE": "2025550192",
             "SMS_OPT_IN": "false"},
        ],
        FILE_HEADINGS,
    )  # fmt: skip

    run = sync(integration)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert CountingPool.submitted == (1 + 3 if worker else 0), "its start, then one batch per chunk of two"
    assert "worker process" not in caplog.text, "the worker never stopped"
    found = rows(run)
    assert {cons_id: row.category for cons_id, row in found.items()} == {
        "7101": "Created",
        "7102": "Created",
        "7103": "No Import",
        "7104": "No Import",
        "7105": "No Import",
    }
    assert (linked("7101").phone_number, linked("7101").email) == ("+12025550190", "Ann@example.org")
    assert linked("7102").phone_number == "+447400123458"
    assert "+44 20 7946 0958" in found["7103"].reason and "fixed line" in found["7103"].reason
    assert "'not-an-address'" in found["7104"].reason and "email" in found["7104"].reason
    assert all(row.source == SyncRecord.Source.FILE for row in found.values())
    assert welcomes() == 2


def test_a_lost_worker_process_leaves_the_values_read_in_the_engine(caplog):
    reader = inbound._FileValueReader("US")
    reader.use_worker()
    values = [
        mapping.Values(cons_id=str(n), fields=dict.fromkeys(PROFILE_FIELDS, ""), phone_raw=f"20255502{n:02d}",
                       opted_in=True)
        for n in range(3)
    ]  # fmt: skip
    items = [inbound.Fetched(value.cons_id, values=value) for value in values]
    reader.start(items[:1])()  # the worker is up
    for child in multiprocessing.active_children():
        child.kill()
        child.join()

    reader.start(items[1:])()
    reader.close()

    assert [item.incoming.phone for item in items] == ["+12025550200", "+12025550201", "+12025550202"]
    assert "worker process reading file values is lost (BrokenProcessPool" in caplog.text


def _read_in_a_daemonic_process(results) -> None:
    reader = inbound._FileValueReader("US")
    reader.use_worker()
    value = mapping.Values("1", dict.fromkeys(PROFILE_FIELDS, ""), "2025550210", True)
    item = inbound.Fetched("1", values=value)
    reader.start([item])()
    results.put(item.incoming.phone)


def test_values_are_read_in_the_engine_where_no_worker_process_can_start():
    """A daemonic process (a worker of some process pool) may not start children of its own."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    daemon = context.Process(target=_read_in_a_daemonic_process, args=(results,), daemon=True)
    daemon.start()
    daemon.join(timeout=60)

    assert daemon.exitcode == 0
    assert results.get(timeout=5) == "+12025550210"


@BOTH
def test_a_mobile_in_another_regions_format(make_integration, simulator, sync_type):
    integration = make_integration(sync_type)
    uk_international = add(simulator, "uk@example.org", "+44 7400 123456")
    uk_national = add(simulator, "uknat@example.org", "07400 123457")
    publish(simulator)

    run = sync(integration)

    assert category(run, uk_international) == "Created"
    assert linked(uk_international).phone_number == "+447400123456", "not read as a US number"
    row = rows(run)[uk_national]
    assert row.category == "No Import" and "07400 123457" in row.reason
    assert not Profile.objects.filter(constituent_id=uk_national).exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plan")
def test_a_runs_rows_of_given_constituents_are_found_without_walking_the_whole_run(make_integration):
    """The cross-chunk claims of a mobile number (row 12) look up the run's rows of a chunk's constituents:
    an initial load has a million of them, so the lookup must not go through every row of the run."""
    run = SyncRun.objects.create(
        integration=make_integration("liberal"), direction="inbound", started_at=timezone.now()
    )
    earlier_claims = SyncRecord.objects.filter(run=run, constituent_id__in=["8001", "8002"]).exclude(
        category__in=["Unable to Update", "Processing Error"]
    )
    displaced = SyncRecord.objects.filter(run=run, constituent_id="8001")

    for lookup in (earlier_claims, displaced):
        assert "(run_id=? AND constituent_id=?)" in lookup.explain()


# --- numbers that move, swap, or belong to someone who said STOP ----------------------------------------


def test_two_constituents_swapping_numbers_in_one_night_change_nobody(make_integration, simulator, paths):
    integration = make_integration("liberal")
    a = add(simulator, "a@example.org", "2025550180", first="Ann")
    b = add(simulator, "b@example.org", "2025550181", first="Bob")
    publish(simulator)
    sync(integration)
    events = ConsentEvent.objects.count()
    change(simulator, a, mobile_phone="2025550181")
    change(simulator, b, mobile_phone="2025550180")
    publish(simulator)

    run = sync(integration)

    assert category(run, a) == "Skipped Members" and category(run, b) == "Skipped Members"
    assert (linked(a).phone_number, linked(b).phone_number) == ("+12025550180", "+12025550181")
    for cons in (a, b):
        assert synced_status(linked(cons), paths) == Subscription.Status.ACTIVE
    assert ConsentEvent.objects.count() == events, "nobody opted out or in"
    assert welcomes() == 2


@BOTH
@pytest.mark.parametrize("path", ["default", "confirm"])
def test_a_number_that_texted_stop_is_never_re_subscribed(
    make_integration, simulator, organization, paths, sync_type, path
):
    integration = make_integration(sync_type, default_opt_in_path=paths[path])
    stopped, _ = services.get_or_create_profile(organization, "2025550182", channel=Channel.SMS)
    services.opt_out(stopped, channel=Channel.SMS, source_detail="STOP")
    moved_onto, _ = services.get_or_create_profile(organization, "2025550183", channel=Channel.SMS)
    services.opt_in(moved_onto, paths["default"], channel=Channel.SMS)
    services.opt_out(moved_onto, channel=Channel.SMS, source_detail="STOP")
    direct = add(simulator, "direct@example.org", "2025550182", first="Direct")
    mover = add(simulator, "mover@example.org", "2025550184", first="Mover")
    publish(simulator)
    sync(integration)
    assert Profile.objects.filter(constituent_id=mover).exists()
    change(simulator, mover, mobile_phone="2025550183")
    change(simulator, direct, **{"name.first": "Again"})
    publish(simulator)
    before = list(Message.objects.order_by("pk").values_list("pk", flat=True))

    sync(integration)

    for profile in (stopped, moved_onto):
        profile.refresh_from_db()
        assert profile.is_globally_opted_out
        assert (
            not Subscription.objects.filter(profile=profile)
            .exclude(status=Subscription.Status.OPTED_OUT)
            .exists()
        ), "no active and no pending subscription"
    assert list(Message.objects.order_by("pk").values_list("pk", flat=True)) == before, "nobody texted"
    assert linked(direct).pk == stopped.pk and linked(mover).pk == moved_onto.pk
    assert not ConsentEvent.objects.filter(
        profile__in=[stopped, moved_onto], kind=ConsentEvent.Kind.OPT_IN, channel=Channel.LUMINATE
    ).exists()


@BOTH
def test_opt_in_withdrawn_and_number_moved_in_the_same_night(make_integration, simulator, paths, sync_type):
    integration = make_integration(sync_type)
    cons = add(simulator, "both@example.org", "2025550185")
    publish(simulator)
    sync(integration)
    old = linked(cons)
    change(simulator, cons, custom_boolean50=False, mobile_phone="2025550186")
    publish(simulator)

    run = sync(integration)

    row = rows(run)[cons]
    assert "+12025550185" in row.reason and "+12025550186" in row.reason
    old.refresh_from_db()
    assert synced_status(old, paths) == Subscription.Status.OPTED_OUT
    new = Profile.objects.filter(phone_number="+12025550186").first()
    if new is not None:
        assert not Subscription.objects.filter(profile=new).exists(), "a withdrawn opt-in subscribes nothing"
        assert not Message.objects.filter(profile=new).exists(), "nobody is texted after withdrawing"
    assert run.would_text_without_opt_in == 0


# --- confirmation and consent over several nights -------------------------------------------------------


@BOTH
def test_confirmation_path_then_yes_then_re_runs(make_integration, simulator, paths, sync_type):
    integration = make_integration(sync_type, default_opt_in_path=paths["confirm"])
    cons = add(simulator, "yes@example.org", "2025550187", first="Yan")
    publish(simulator)
    assert category(sync(integration), cons) == "Deferred Subscription"
    profile = linked(cons)

    change(simulator, cons, **{"name.first": "Yana"})
    publish(simulator)
    pending_again = sync(integration)
    assert category(pending_again, cons) == "Updated"
    assert Message.objects.filter(profile=profile, kind=Message.Kind.CONFIRMATION).count() == 1, "asked once"
    assert synced_status(profile, paths, "confirm") == Subscription.Status.PENDING

    services.confirm(profile)
    change(simulator, cons, **{"name.last": "Ng"})
    publish(simulator)
    after_yes = sync(integration)
    assert category(after_yes, cons) == "Updated"
    assert synced_status(profile, paths, "confirm") == Subscription.Status.ACTIVE
    assert welcomes(profile) == 1

    change(simulator, cons, custom_boolean50=False)
    publish(simulator)
    if sync_type == "conservative":
        LinkSnapshot.objects.update(reconciled_at=None)
    withdrawn = sync(integration)
    assert category(withdrawn, cons) == "Updated" and "withdrawn" in rows(withdrawn)[cons].reason
    assert synced_status(profile, paths, "confirm") == Subscription.Status.OPTED_OUT
    assert welcomes(profile) == 1


# --- runs that stop half-way ----------------------------------------------------------------------------


def _constituents(sim, count: int, start: int = 0) -> list[str]:
    return [add(sim, f"c{n}@example.org", f"20255503{n:02d}") for n in range(start, start + count)]


def test_a_run_level_error_half_way_loses_nobody(make_integration, simulator, small_chunks):
    integration = make_integration("liberal", api_concurrency=1)
    first_night = _constituents(simulator, 8)
    publish(simulator)
    chunks_done = []

    def break_the_key_after_the_first_chunk(run):
        chunks_done.append(run.done)
        if len(chunks_done) == 1:
            simulator.faults.inject("getUser", "error", code=2)

    failed = sync(integration, progress=break_the_key_after_the_first_chunk)

    assert failed.status == SyncRun.Status.FAILED and "API key" in failed.error
    done_before = {r.constituent_id for r in failed.records.exclude(constituent_id="")}
    assert 2 <= len(done_before) < 8

    simulator.faults.clear()
    next_day(simulator)
    second_night = _constituents(simulator, 2, start=20)
    publish_rows(simulator, [{"CONS_ID": cons} for cons in [*second_night, first_night[-1]]])
    again = sync(integration)

    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    done_after = {r.constituent_id for r in again.records.all()}
    assert done_before | done_after == {*first_night, *second_night}, "every constituent of both files"
    assert not done_before & done_after, "nothing done twice"
    assert Profile.objects.count() == 10 and welcomes() == 10


def test_a_record_level_error_for_one_id_never_stops_the_others(make_integration, simulator):
    integration = make_integration("liberal", api_concurrency=1)
    ids = _constituents(simulator, 4)
    publish(simulator)
    simulator.faults.inject("getUser", "error", code=22, count=1)

    run = sync(integration)

    counted = Counter(r.category for r in run.records.all())
    assert counted == {"Processing Error": 1, "Created": 3}
    assert run.status == SyncRun.Status.PARTIAL
    refused = run.records.get(category="Processing Error")
    assert refused.constituent_id in ids and refused.constituent_id in refused.reason
    assert Profile.objects.count() == 3


def test_deactivation_mid_run_pauses_and_reactivation_finishes_the_same_run(
    make_integration, simulator, small_chunks
):
    integration = make_integration("liberal")
    ids = _constituents(simulator, 6)
    publish(simulator)

    def deactivate(run):
        Integration.objects.filter(pk=integration.pk).update(active=False)

    paused = sync(integration, progress=deactivate)

    assert paused.status == SyncRun.Status.PAUSED and paused.done == 2
    Integration.objects.filter(pk=integration.pk).update(active=True)
    integration.refresh_from_db()
    resumed = sync(integration)

    assert resumed.pk == paused.pk and resumed.status == SyncRun.Status.SUCCEEDED
    reported = list(SyncRecord.objects.filter(run=resumed).values_list("constituent_id", flat=True))
    assert sorted(reported) == sorted(ids)
    assert welcomes() == 6


def test_a_dry_run_reports_what_the_real_run_then_does(
    make_integration, simulator, organization, paths, small_chunks
):
    integration = make_integration("conservative")
    stopped, _ = services.get_or_create_profile(organization, "2025550190", channel=Channel.SMS)
    services.opt_out(stopped, channel=Channel.SMS, source_detail="STOP")
    fresh = _constituents(simulator, 3)
    stop_match = add(simulator, "stop@example.org", "2025550190")
    declined = add(simulator, "declined@example.org", "2025550191", opted_in=False)
    older = add(simulator, "older@example.org", "2025550192", first="Older")
    newer = add(simulator, "newer@example.org", "2025550192", first="Newer")
    filler = _constituents(simulator, 3, start=40)
    # The two claims on one number fall in different chunks.
    publish_rows(simulator, [{"CONS_ID": c} for c in [older, *fresh, stop_match, declined, *filler, newer]])
    state = (Profile.objects.count(), Subscription.objects.count(), Message.objects.count())

    preview = sync(integration, dry_run=True)

    assert (Profile.objects.count(), Subscription.objects.count(), Message.objects.count()) == state
    real = sync(integration)

    assert real.status == SyncRun.Status.SUCCEEDED, real.error
    expected = {cons: record.category for cons, record in rows(real).items()}
    assert expected[older] == "Skipped Members" and expected[stop_match] == "Updated"
    assert {cons: record.category for cons, record in rows(preview).items()} == expected
    assert preview.counts == real.counts


def _mover_and_claimer(sim, integration):
    """The mover's number changes to one a newer constituent also has, two chunks later."""
    mover = add(sim, "mover@example.org", "2025550110", first="Mover")
    publish(sim)
    sync(integration)
    change(sim, mover, mobile_phone="2025550111")
    claimer = add(sim, "claimer@example.org", "2025550111", first="Claimer")
    return [mover, *_constituents(sim, 3, start=10), claimer]


def _newer_first(sim, integration):
    """The newer claim comes first: the older record, two chunks later, takes nothing."""
    older = add(sim, "older@example.org", "2025550112", first="Older", last="Smith")
    newer = add(sim, "newer@example.org", "2025550112", first="Newer")
    return [newer, *_constituents(sim, 3, start=13), older]


def _number_freed_then_taken(sim, integration):
    """A linked constituent moves off a number an earlier chunk frees; a later record has that number."""
    leaver = add(sim, "leaver@example.org", "2025550113", first="Leaver")
    publish(sim)
    sync(integration)
    change(sim, leaver, mobile_phone="2025550114")
    taker = add(sim, "taker@example.org", "2025550113", first="Taker", last="")
    return [leaver, *_constituents(sim, 3, start=16), taker]


def _claimer_before_holder(sim, integration):
    """A newer constituent claims a linked number two chunks before its holder, who changed a field."""
    holder = add(sim, "holder@example.org", "2025550117", first="Holder")
    publish(sim)
    sync(integration)
    change(sim, holder, **{"name.first": "Kept"})
    claimer = add(sim, "claimer@example.org", "2025550117", first="Claimer")
    return [claimer, *_constituents(sim, 3, start=26), holder]


def _four_claims(sim, integration):
    """Four constituents of one number, each newer than the last, in four chunks: the second changes no
    field (the same person entered twice), the third leaves one empty, the fourth changes them all."""
    claims = [
        add(sim, email, "2025550115", first=first, last=last)
        for email, first, last in [
            ("same@example.org", "Sam", "Lee"),
            ("same@example.org", "Sam", "Lee"),
            ("third@example.org", "Third", ""),
            ("fourth@example.org", "Fourth", "Ng"),
        ]
    ]
    return [
        claims[0],
        *_constituents(sim, 2, start=19),
        claims[1],
        *_constituents(sim, 2, start=21),
        claims[2],
        *_constituents(sim, 2, start=23),
        claims[3],
    ]


@pytest.mark.parametrize(
    "night",
    [_mover_and_claimer, _newer_first, _number_freed_then_taken, _claimer_before_holder, _four_claims],
)
def test_a_preview_reports_each_row_as_the_real_run_then_writes_it(
    make_integration, simulator, small_chunks, night
):
    integration = make_integration("liberal")
    publish_rows(simulator, [{"CONS_ID": c} for c in night(simulator, integration)])

    preview = sync(integration, dry_run=True)
    real = sync(integration)

    def report(run):
        return {c: (r.category, r.reason, r.changes) for c, r in rows(run).items()}

    assert report(preview) == report(real)
    assert (preview.counts, preview.would_text_without_opt_in) == (
        real.counts,
        real.would_text_without_opt_in,
    )


def test_a_record_luminate_did_not_answer_for_keeps_its_number_and_its_error(
    make_integration, simulator, small_chunks
):
    integration = make_integration("liberal", api_concurrency=1)
    holder = add(simulator, "holder@example.org", "2025550116")
    publish(simulator)
    sync(integration)
    newer = add(simulator, "newer@example.org", "2025550116")
    filler = [{"CONS_ID": c} for c in _constituents(simulator, 3, start=30)]
    publish_rows(
        simulator,
        [{"CONS_ID": holder}, *filler, {"CONS_ID": newer, "MODIFY_DATE": "2030-01-01 00:00:00"}],
        ("CONS_ID", "MODIFY_DATE"),
    )
    simulator.faults.inject("getUser", "error", code=1, count=3)

    run = sync(integration)

    assert category(run, holder) == "Unable to Update" and run.status == SyncRun.Status.PARTIAL
    assert category(run, newer) == "Skipped Members", "its number is linked to another constituent (row 12)"
    assert linked(holder).phone_number == "+12025550116"
    assert LinkSnapshot.objects.get(constituent_id=holder).profile_id == linked(holder).pk


def test_a_preview_also_reads_the_constituents_the_real_run_carries_over(make_integration, simulator):
    integration = make_integration("liberal", api_concurrency=1)
    unanswered = add(simulator, "late@example.org", "2025550117")
    publish(simulator)
    simulator.faults.inject("getUser", "error", code=1, count=3)
    assert category(sync(integration), unanswered) == "Unable to Update"
    next_day(simulator)
    tonight = _constituents(simulator, 1, start=40)
    publish_rows(simulator, [{"CONS_ID": c} for c in tonight])

    preview = sync(integration, dry_run=True)
    real = sync(integration)

    assert set(rows(real)) == {unanswered, *tonight}, "the real run retries the unanswered one (row 4)"
    assert {c: r.category for c, r in rows(preview).items()} == {c: r.category for c, r in rows(real).items()}


# --- consent when other rules would skip the record -----------------------------------------------------


def test_a_withdrawal_applies_even_when_the_new_number_is_linked_elsewhere(
    make_integration, simulator, paths
):
    integration = make_integration("liberal")
    leaver = add(simulator, "leaver@example.org", "2025550193")
    owner = add(simulator, "owner@example.org", "2025550194")
    publish(simulator)
    sync(integration)
    change(simulator, leaver, custom_boolean50=False, mobile_phone="2025550194")
    publish(simulator)

    run = sync(integration)

    assert "withdrawn" in rows(run)[leaver].reason
    assert synced_status(linked(leaver), paths) == Subscription.Status.OPTED_OUT, "consent wins over row 12"
    assert linked(leaver).phone_number == "+12025550193", "the link does not move onto the other's number"
    assert synced_status(linked(owner), paths) == Subscription.Status.ACTIVE


def test_a_later_claim_by_a_record_that_is_not_imported_leaves_the_report_and_the_links_consistent(
    make_integration, simulator, small_chunks
):
    integration = make_integration("conservative")
    older = add(simulator, "older@example.org", "2025550195", first="Older")
    filler = _constituents(simulator, 3, start=60)
    newer = add(simulator, "newer@example.org", "2025550195", opted_in=False, first="Newer")
    publish_rows(simulator, [{"CONS_ID": c} for c in [older, *filler, newer]])

    run = sync(integration)

    assert category(run, newer) == "No Import"
    profile = Profile.objects.filter(phone_number="+12025550195").first()
    if category(run, older) == "Skipped Members":
        assert profile is None or profile.constituent_id is None, "a skipped record links nothing"
    else:
        assert profile is not None and profile.constituent_id == older
        assert LinkSnapshot.objects.get(constituent_id=older).profile_id == profile.pk, "kept for row 10"
    assert sum(run.counts.values()) == run.total


def test_a_run_level_error_from_get_user_groups_writes_nothing_of_its_chunk(
    make_integration, simulator, paths, small_chunks
):
    integration = make_integration("liberal")
    integration.group_paths.create(group_id="1003", opt_in_path=paths["donors"], position=0)
    ids = [add(simulator, f"g{n}@example.org", f"20255504{n:02d}", group_ids="1003") for n in range(4)]
    publish(simulator)
    simulator.faults.inject("getUserGroups", "error", code=14)

    failed = sync(integration)

    assert failed.status == SyncRun.Status.FAILED
    assert not Profile.objects.exists() and not Message.objects.exists()
    simulator.faults.clear()
    again = sync(integration)
    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    assert {cons: r.category for cons, r in rows(again).items()} == dict.fromkeys(ids, "Created")
    assert all(synced_status(linked(cons), paths, "donors") == Subscription.Status.ACTIVE for cons in ids)


@pytest.mark.parametrize("apart", [False, True], ids=["same-chunk", "chunks-apart"])
def test_a_withdrawal_applies_even_when_a_newer_record_of_the_run_claims_the_new_number(
    make_integration, simulator, paths, small_chunks, apart
):
    integration = make_integration("liberal")
    leaver = add(simulator, "leaver@example.org", "2025550196")
    publish(simulator)
    sync(integration)
    change(simulator, leaver, custom_boolean50=False, mobile_phone="2025550197")
    claimer = add(simulator, "claimer@example.org", "2025550197")
    filler = _constituents(simulator, 3, start=70) if apart else []
    publish_rows(simulator, [{"CONS_ID": c} for c in [leaver, *filler, claimer]])

    run = sync(integration)

    assert category(run, claimer) in ("Created", "Updated")
    assert linked(claimer).phone_number == "+12025550197"
    old = Profile.objects.get(phone_number="+12025550196")
    assert synced_status(old, paths) == Subscription.Status.OPTED_OUT, "consent wins over the claim"


def test_an_invalid_email_is_reported_with_its_value(make_integration, simulator):
    integration = file_mode(make_integration("liberal"))
    publish_rows(
        simulator,
        [{"CONS_ID": "8001", "PRIMARY_EMAIL": "jane.at.example.org", "MOBILE_PHONE": "2025550198",
          "MODIFY_DATE": "2026-11-26 08:00:00", "SMS_OPT_IN": "true"}],
        FILE_HEADINGS,
    )  # fmt: skip

    run = sync(integration)

    row = rows(run)["8001"]
    assert row.category == "No Import" and "jane.at.example.org" in row.reason
    assert not Profile.objects.exists()


def test_a_zero_padded_constituent_id_links_and_snapshots_the_same_id(make_integration, simulator):
    integration = make_integration("liberal")
    cons = add(simulator, "padded@example.org", "2025550199")
    publish_rows(simulator, [{"CONS_ID": f"00{cons}"}])

    run = sync(integration)

    reported = {r.constituent_id: r.category for r in run.records.all()}
    profiles = list(Profile.objects.values_list("constituent_id", flat=True))
    snapshots = list(LinkSnapshot.objects.values_list("constituent_id", flat=True))
    assert profiles == snapshots, "the link and its snapshot name the same constituent"
    assert set(profiles) <= set(reported)


def test_a_displaced_record_is_reported_with_what_it_changed(
    make_integration, simulator, paths, small_chunks
):
    integration = make_integration("liberal")
    mover = add(simulator, "mover@example.org", "2025550160")
    publish(simulator)
    sync(integration)
    old = linked(mover)
    change(simulator, mover, mobile_phone="2025550161")
    claimer = add(simulator, "claimer@example.org", "2025550161")
    filler = _constituents(simulator, 3, start=80)
    publish_rows(simulator, [{"CONS_ID": c} for c in [mover, *filler, claimer]])

    run = sync(integration)

    old.refresh_from_db()
    row = rows(run)[mover]
    if row.category == "Skipped Members":
        assert old.constituent_id == mover, "Skipped Members means nothing changed"
        assert synced_status(old, paths) == Subscription.Status.ACTIVE
    else:
        assert "+12025550160" in row.reason and "+12025550161" in row.reason


def test_with_centers_configured_file_mode_reads_through_the_api(make_integration, simulator):
    integration = file_mode(make_integration("liberal", center_ids="2001"))
    inside = add(simulator, "in@example.org", "2025550158", center_ids="2001")
    outside = add(simulator, "out@example.org", "2025550159", center_ids="2002")
    text = (
        "CONS_ID,PRIMARY_EMAIL,FIRST_NAME,LAST_NAME,MOBILE_PHONE,MODIFY_DATE,SMS_OPT_IN\r\n"
        f"{inside},in@example.org,In,Side,2025550158,2026-11-26 22:00:00,true\r\n"
        f"{outside},out@example.org,Out,Side,2025550159,2026-11-26 22:00:00,true\r\n"
    )
    publish_bytes(simulator, text.encode("utf-8"))

    run = sync(integration)

    assert category(run, inside) == "Created", "the file carries no centers: the API says which they are"
    assert category(run, outside) == "No Import"
    assert set(called_ids(simulator, "getUser")) == {inside, outside}
