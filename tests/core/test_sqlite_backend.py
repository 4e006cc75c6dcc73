"""The SQLite backend remembers how it rewrote a query's placeholders; what runs must not change."""

import pytest
from django.db import connection, connections

from lumisync.core.sqlite import base

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend only"),
]


def test_the_default_database_runs_on_lumisyncs_sqlite_backend():
    assert isinstance(connections["default"], base.DatabaseWrapper)


def test_a_repeated_query_is_rewritten_once_and_runs_the_same_each_time():
    base._in_qmark_style.cache_clear()
    query = "SELECT %s || '%%', %s LIKE 'ab%%'"

    with connection.cursor() as cursor:
        answers = []
        for value in ("x", "y"):
            cursor.execute(query, [value, "abc"])
            answers.append(cursor.fetchone())

    assert answers == [("x%", 1), ("y%", 1)]
    assert base._in_qmark_style.cache_info().hits >= 1


def test_named_parameters_still_work():
    with connection.cursor() as cursor:
        cursor.execute("SELECT %(a)s + %(b)s", {"a": 2, "b": 3})
        assert cursor.fetchone() == (5,)
