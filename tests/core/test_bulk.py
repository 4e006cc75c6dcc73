"""core.bulk.create: new rows saved in a few statements, with what QuerySet.bulk_create would have given them."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.utils import timezone

from lumisync.core import bulk
from lumisync.datasync.engine.inbound import REPORT_COLUMNS
from lumisync.datasync.models import SyncRecord, SyncRun
from lumisync.datasync.services import Actor, create_integration
from lumisync.messaging.models import Message, ProviderAccount
from lumisync.subscribers.models import Campaign, Channel, ConsentEvent, Profile, ProfileStatus

pytestmark = pytest.mark.django_db


def test_rows_get_their_keys_defaults_and_timestamps(organization, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_ROWS", 2)  # several statements, and a short last one
    before = timezone.now()
    profiles = [
        Profile(organization=organization, phone_number=f"+120255501{n:02d}", first_name=f"Ann {n}")
        for n in range(5)
    ]

    bulk.create(profiles)

    assert len({profile.pk for profile in profiles}) == 5
    for profile in profiles:
        stored = Profile.objects.get(pk=profile.pk)
        assert (stored.phone_number, stored.first_name) == (profile.phone_number, profile.first_name)
        assert stored.created_at >= before and stored.created_at == profile.created_at
        assert stored.status == Profile._meta.get_field("status").default
        assert not profile._state.adding
    # The rows are written together, so they share one moment.
    assert {(profile.created_at, profile.updated_at) for profile in profiles} == {
        (profiles[0].created_at,) * 2
    }


def opt_out_of(profile: Profile) -> ConsentEvent:
    return ConsentEvent(
        organization=profile.organization,
        profile=profile,
        kind=ConsentEvent.Kind.OPT_OUT,
        channel=Channel.WEB,
        occurred_at=timezone.now(),
    )


def test_a_relation_given_as_an_object_saved_since_takes_its_key(organization):
    profile = Profile(organization=organization, phone_number="+12025550150")
    event = opt_out_of(profile)
    bulk.create([profile])

    bulk.create([event])

    assert ConsentEvent.objects.get(pk=event.pk).profile_id == profile.pk


def test_a_relation_to_an_unsaved_object_is_refused_by_name(organization):
    event = opt_out_of(Profile(organization=organization, phone_number="+12025550151"))

    with pytest.raises(ValueError, match=r"ConsentEvent\.profile .* unsaved Profile"):
        bulk.create([event])
    assert not ConsentEvent.objects.exists()


def test_saved_rows_and_mixed_models_are_refused(organization):
    saved = Profile.objects.create(organization=organization, phone_number="+12025550152")

    with pytest.raises(ValueError, match="is not a new Profile"):
        bulk.create([saved])
    with pytest.raises(ValueError, match="is not a new Profile"):
        bulk.create([Profile(organization=organization, phone_number="+12025550153"), Message()])


def test_a_field_that_prepares_its_own_values_still_does(organization):
    account = ProviderAccount(organization=organization, auth_token="canary-token-value")

    bulk.create([account])

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT auth_token FROM {ProviderAccount._meta.db_table} WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()
    assert "canary-token-value" not in stored
    assert ProviderAccount.objects.get(pk=account.pk).auth_token == "canary-token-value"


def test_new_builds_what_the_keyword_constructor_builds(organization, django_assert_num_queries):
    profile = Profile.objects.create(organization=organization, phone_number="+12025550123")
    values = dict(
        organization=organization, profile=profile, kind=ConsentEvent.Kind.OPT_OUT, channel=Channel.WEB
    )
    values["occurred_at"] = timezone.now()

    built, expected = bulk.new(ConsentEvent, **values), ConsentEvent(**values)

    fields = ConsentEvent._meta.concrete_fields
    assert [getattr(built, f.attname) for f in fields] == [getattr(expected, f.attname) for f in fields]
    assert built._state.adding
    with django_assert_num_queries(0):
        assert built.profile is profile and built.organization is organization
    bulk.create([built])
    assert ConsentEvent.objects.get(pk=built.pk).profile_id == profile.pk


def test_new_takes_every_default_the_constructor_takes_and_makes_each_callable_one_afresh():
    started = timezone.now()

    first, second = (
        bulk.new(SyncRun, integration_id=1, direction="inbound", started_at=started) for _ in "ab"
    )
    expected = SyncRun(integration_id=1, direction="inbound", started_at=started)

    fields = SyncRun._meta.concrete_fields
    assert [getattr(first, f.attname) for f in fields] == [getattr(expected, f.attname) for f in fields]
    assert (first.status, first.total, first.counts, first.files) == ("running", 0, {}, [])
    assert first.counts is not second.counts and first.files is not second.files


def test_new_uses_the_constructor_of_a_model_whose_construction_is_listened_to(organization):
    built = []

    def listener(sender, instance, **kwargs):
        built.append(instance)

    post_init.connect(listener, sender=ConsentEvent)
    bulk._instance_plan.cache_clear()
    try:
        event = bulk.new(ConsentEvent, organization=organization, kind=ConsentEvent.Kind.OPT_OUT)
    finally:
        post_init.disconnect(listener, sender=ConsentEvent)
        bulk._instance_plan.cache_clear()
    assert len(built) == 1 and built[0] is event
    # With nobody listening, the values go straight into the instance again.
    assert bulk._instance_plan(ConsentEvent).direct


def test_new_refuses_a_name_that_is_not_a_field_or_a_relation_given_twice(organization):
    with pytest.raises(TypeError, match="ConsentEvent has no field colour"):
        bulk.new(ConsentEvent, organization=organization, colour="red")
    with pytest.raises(TypeError, match="given both as an object and as a key"):
        bulk.new(ConsentEvent, organization=organization, organization_id=organization.pk)


def test_insert_writes_every_row_in_batches_and_updates_on_a_unique_key(organization, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_ROWS", 2)  # several statements, and a short last one
    kept = Campaign.objects.create(organization=organization, name="Kept", description="old")
    now = timezone.now()
    columns = ("organization", "name", "description", "active", "created_at")
    rows = [(organization.pk, name, f"about {name}", True, now) for name in ("A", "B", "Kept", "C", "D")]

    bulk.insert(Campaign, columns, rows, unique=("organization", "name"), update=("description",))

    stored = dict(Campaign.objects.filter(organization=organization).values_list("name", "description"))
    assert stored == {name: f"about {name}" for name in ("A", "B", "Kept", "C", "D")}
    assert Campaign.objects.get(name="Kept").pk == kept.pk


def test_json_columns_read_back_as_the_orm_writes_them(organization):
    run = SyncRun.objects.create(
        integration=create_integration(organization, Actor("test")),
        direction="inbound",
        started_at=timezone.now(),
    )
    changes = {"first_name": ["Zoë", "李小龍 🌊"], "email": ["", 'a"b\\c@example.org'], "count": [None, 3]}
    by_orm = SyncRecord.objects.create(run=run, direction="inbound", category="Updated", changes=changes)
    row = dict.fromkeys(REPORT_COLUMNS, "") | {"run": run.pk, "profile": None, "moved_from_profile": None}
    row |= {"category": "Created", "changes": changes, "created_at": timezone.now()}

    bulk.insert(SyncRecord, REPORT_COLUMNS, [[row[column] for column in REPORT_COLUMNS]])

    by_bulk = SyncRecord.objects.get(run=run, category="Created")
    assert by_bulk.changes == by_orm.changes == changes
    assert SyncRecord.objects.filter(run=run, changes__first_name__1="李小龍 🌊").count() == 2


def test_update_writes_the_fields_named_and_nothing_else(organization):
    profiles = [
        Profile.objects.create(organization=organization, phone_number=f"+1202555012{n}", first_name="Old")
        for n in range(3)
    ]
    stamped = timezone.now() + timezone.timedelta(days=1)
    for n, profile in enumerate(profiles[:2]):
        profile.first_name, profile.last_name, profile.email = f"New{n}", "Lee", "unsaved@example.org"
        profile.updated_at = stamped

    bulk.update(profiles[:2], ["first_name", "last_name", "updated_at"])

    stored = {p.pk: p for p in Profile.objects.filter(organization=organization)}
    assert [(stored[p.pk].first_name, stored[p.pk].last_name) for p in profiles] == [
        ("New0", "Lee"),
        ("New1", "Lee"),
        ("Old", ""),
    ]
    assert {stored[p.pk].email for p in profiles} == {""}, "a field not named is not written"
    assert stored[profiles[0].pk].updated_at == stamped, (
        "auto_now fields are written as the instance holds them"
    )
    assert stored[profiles[2].pk].updated_at < stamped
    with pytest.raises(ValueError, match="is not a saved Profile"):
        bulk.update([Profile(organization=organization, phone_number="+12025550129")], ["first_name"])


def test_update_leaves_alone_a_row_whose_stored_value_it_is_told_to_keep(organization):
    kept, written = (
        Profile.objects.create(organization=organization, phone_number=f"+1202555013{n}") for n in range(2)
    )
    # Another writer marked the first undeliverable after these instances were read.
    Profile.objects.filter(pk=kept.pk).update(status=ProfileStatus.UNDELIVERABLE)
    for profile in (kept, written):
        profile.status = ProfileStatus.ACTIVE

    bulk.update([kept, written], ["status"], unless=("status", [ProfileStatus.UNDELIVERABLE]))

    stored = dict(Profile.objects.filter(pk__in=[kept.pk, written.pk]).values_list("pk", "status"))
    assert stored == {kept.pk: ProfileStatus.UNDELIVERABLE, written.pk: ProfileStatus.ACTIVE}


def test_times_of_the_hour_repeated_when_clocks_go_back_are_written_apart(organization):
    zone = zoneinfo.ZoneInfo("America/New_York")
    first = dt.datetime(2026, 11, 1, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    assert first == second and second - first == dt.timedelta(0), "equal to Python, an hour apart in UTC"
    events = [
        bulk.new(
            ConsentEvent,
            organization=organization,
            profile=Profile.objects.create(organization=organization, phone_number=f"+1202555014{n}"),
            kind=ConsentEvent.Kind.OPT_IN,
            channel=Channel.WEB,
            occurred_at=when,
        )
        for n, when in enumerate((first, second))
    ]

    bulk.create(events)

    stored = [ConsentEvent.objects.get(pk=event.pk).occurred_at for event in events]
    assert stored[1] - stored[0] == dt.timedelta(hours=1)
