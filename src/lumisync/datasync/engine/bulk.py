"""Many rows into one table in a single ``executemany``, for the engine's own high-volume rows (report rows
and link snapshots: one each per constituent of a run).

``QuerySet.bulk_create`` builds a model instance and compiles SQL per row, which costs more than the whole
rest of a file-mode record; here the SQL is compiled once per table and each value goes through its
field's database preparation only. Defaults and ``auto_now`` fields are not applied: give every column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model


def insert(
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    unique: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (values in the order of ``columns``, field names) into ``model``'s table.

    With ``unique`` and ``update``, a row whose ``unique`` fields match an existing row updates that row's
    ``update`` fields instead (``ON CONFLICT ... DO UPDATE``, as SQLite and PostgreSQL both spell it).
    """
    sql, prepare = _statement(model, tuple(columns), tuple(unique), tuple(update))
    values = [[adapt(value) for adapt, value in zip(prepare, row, strict=True)] for row in rows]
    if values:
        with connection.cursor() as cursor:
            cursor.executemany(sql, values)


@cache
def _statement(
    model: type[Model], columns: tuple[str, ...], unique: tuple[str, ...], update: tuple[str, ...]
) -> tuple[str, list[Callable[[Any], Any]]]:
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in columns]
    names = ", ".join(quote(field.column) for field in fields)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({', '.join(['%s'] * len(fields))})"
    if unique:
        targets = ", ".join(quote(model._meta.get_field(name).column) for name in unique)
        changes = ", ".join(
            f"{quote(column)} = excluded.{quote(column)}"
            for column in (model._meta.get_field(name).column for name in update)
        )
        sql += f" ON CONFLICT ({targets}) DO UPDATE SET {changes}"
    return sql, [_adapter(field) for field in fields]


def _adapter(field) -> Callable[[Any], Any]:
    kind = field.get_internal_type()
    if kind in ("CharField", "TextField", "BooleanField", "ForeignKey", "PositiveIntegerField"):
        return _same
    if kind == "DateTimeField":
        return connection.ops.adapt_datetimefield_value
    return lambda value: field.get_db_prep_save(value, connection)


def _same(value: Any) -> Any:
    return value
