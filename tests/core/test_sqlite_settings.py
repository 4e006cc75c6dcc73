"""The embedded SQLite database is set up for a web app and a bulk writer side by side."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.skipif(connection.vendor != "sqlite", reason="settings of the embedded SQLite database"),
    pytest.mark.django_db,
]


def pragma(name: str):
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA {name}")
        return cursor.fetchone()[0]


def test_readers_do_not_wait_for_a_writer():
    assert pragma("journal_mode") == "wal"


def test_a_writer_waits_at_least_twenty_seconds_for_the_lock():
    assert pragma("busy_timeout") >= 20_000


def test_transactions_take_the_write_lock_when_they_begin():
    # A deferred transaction that reads, then writes, fails at once with "database is locked" if another
    # process wrote in between: the busy timeout does not apply to that upgrade.
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_the_page_cache_holds_a_sync_runs_indexes():
    # Negative: a size in KiB rather than in pages.
    assert pragma("cache_size") <= -32_000
