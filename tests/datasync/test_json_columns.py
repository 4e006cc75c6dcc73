"""The sync's high-volume JSON columns (lumisync.core.fields.JSONField): stored as Django's JSONField
stores them, read back the same, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection

from lumisync.core import bulk
from lumisync.datasync.models import LinkSnapshot, SyncRecord, SyncRun

pytestmark = pytest.mark.django_db

VALUES = [
    {},
    {"email": ["", "ada@example.org"], "first_name": ["Ada", "Ádá ☂"]},
    {
        "nested": {"list": [1, 2.5, None, True, "x"]},
        "big": 2**70 + 1,
        "long id": "12345678901234567890123",
        "quote": 'say "hi"\n',
    },
]


def stored_text(table: str, pk: int, column: str):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def write_in_bulk(run, changes_by_constituent):
    bulk.create(
        [
            bulk.new(
                SyncRecord,
                run=run,
                direction="inbound",
                constituent_id=cons_id,
                category="Updated",
                changes=changes,
            )
            for cons_id, changes in changes_by_constituent.items()
        ]
    )


@pytest.fixture
def run(integration):
    return SyncRun.objects.create(
        integration=integration, direction="inbound", status="succeeded", started_at=dt.datetime.now(dt.UTC)
    )


@pytest.mark.parametrize("value", VALUES)
def test_a_value_saved_one_by_one_or_in_bulk_reads_back_the_same(integration, run, value):
    one = LinkSnapshot.objects.create(
        integration=integration, constituent_id="1001", fields=value, synced_at=dt.datetime.now(dt.UTC)
    )
    write_in_bulk(run, {"1002": value})
    many = SyncRecord.objects.get(run=run, constituent_id="1002")

    assert LinkSnapshot.objects.get(pk=one.pk).fields == value
    assert many.changes == value
    text = stored_text(LinkSnapshot._meta.db_table, one.pk, "fields")
    # What is stored is JSON any reader parses to the same value (PostgreSQL hands back the parsed value).
    assert (json.loads(text) if isinstance(text, str) else text) == value


def test_rows_written_by_djangos_own_json_are_read(integration, run):
    record = SyncRecord.objects.create(
        run=run, direction="inbound", constituent_id="1003", category="Updated"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SyncRecord._meta.db_table} SET changes = %s WHERE id = %s",
            [json.dumps({"city": ["Old Town", "New Town"], "n": 1.0}), record.pk],
        )

    assert SyncRecord.objects.get(pk=record.pk).changes == {"city": ["Old Town", "New Town"], "n": 1.0}


def test_lookups_inside_the_json_still_work(integration, run):
    write_in_bulk(run, {"1004": {"email": ["a@example.org", "b@example.org"]}, "1005": {"city": ["X", "Y"]}})

    assert list(
        SyncRecord.objects.filter(changes__has_key="email").values_list("constituent_id", flat=True)
    ) == ["1004"]
    assert SyncRecord.objects.filter(changes__city__1="Y").get().constituent_id == "1005"


def test_a_value_json_cannot_write_is_refused_as_django_refuses_it(integration):
    with pytest.raises(TypeError):
        LinkSnapshot.objects.create(
            integration=integration,
            constituent_id="1006",
            fields={"when": dt.datetime.now(dt.UTC)},
            synced_at=dt.datetime.now(dt.UTC),
        )


def test_keys_that_are_not_strings_are_written_as_djangos_json_writes_them(integration):
    snapshot = LinkSnapshot.objects.create(
        integration=integration,
        constituent_id="1007",
        fields={1: "one", None: "none", 2.5: "half"},
        synced_at=dt.datetime.now(dt.UTC),
    )

    assert LinkSnapshot.objects.get(pk=snapshot.pk).fields == {"1": "one", "null": "none", "2.5": "half"}
    with pytest.raises(TypeError):
        LinkSnapshot.objects.create(
            integration=integration,
            constituent_id="1008",
            fields={dt.date(2026, 11, 29): "a date key"},
            synced_at=dt.datetime.now(dt.UTC),
        )
