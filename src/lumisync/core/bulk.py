"""Many rows into one table with SQL compiled once per table: for the sync's high-volume rows (profiles,
consent events, subscriptions, welcome messages, report rows, link snapshots: one or more per constituent).

``QuerySet.bulk_create`` compiles SQL and prepares every value of every row through the full field
machinery, which costs more than the rest of a file-mode record together; here each value goes through a
preparation picked once per field, and the statement is built once per table and batch size.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import DateTimeField, Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

M = TypeVar("M", bound=Model)

# Rows per INSERT statement in :func:`create`: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters
# for the widest table we write this way.
BATCH_ROWS = 500

# A field's value preparation, made for one connection: plans are shared by every thread, and each thread
# has a connection of its own.
_Adapter = Callable[[Any], Callable[[Any], Any]]

_STORED_AS_GIVEN = frozenset(
    {
        models.CharField,
        models.TextField,
        models.EmailField,
        models.BooleanField,
        models.ForeignKey,
        models.IntegerField,
        models.PositiveIntegerField,
        models.BigIntegerField,
    }
)

# How Django stores a plain field's and a foreign key's value on an instance: in its ``__dict__``.
_STANDARD_DESCRIPTORS = frozenset({DeferredAttribute, ForeignKeyDeferredAttribute})


def insert(
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    unique: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (values in the order of ``columns``, field names) into ``model``'s table, up to
    :data:`BATCH_ROWS` rows per statement. Defaults and ``auto_now`` fields are not applied: give every
    column.

    With ``unique`` and ``update``, a row whose ``unique`` fields match an existing row updates that row's
    ``update`` fields instead (``ON CONFLICT ... DO UPDATE``, as SQLite and PostgreSQL both spell it); the
    rows given must not repeat a ``unique`` key, since one statement cannot update a row twice.
    """
    statement = _statement(model, tuple(columns), tuple(unique), tuple(update))
    prepare = _bound(statement.adapters)
    values = [[adapt(value) for adapt, value in zip(prepare, row, strict=True)] for row in rows]
    # Many rows per statement rather than ``executemany``: SQLite's driver lets go of the GIL for every
    # statement it runs, and with the inbound sync's reading thread busy each release is a thread switch.
    with connection.cursor() as cursor:
        for start in range(0, len(values), BATCH_ROWS):
            batch = values[start : start + BATCH_ROWS]
            cursor.execute(statement.sql(len(batch)), [value for row in batch for value in row])


def new(model: type[M], **values: Any) -> M:
    """``model(**values)`` for an instance about to be saved by :func:`create`, built as Django builds a row
    it reads but without going through ``__init__``: the values are put straight into the instance, which
    takes about a third of the time. A field not given takes its default, and a relation given as an object
    is cached on the instance as the keyword constructor does. No ``pre_init``/``post_init`` signal is sent;
    a model that has receivers for them (when it is first built here), its own ``__init__``, or a field stored
    through a descriptor of its own, is built by its constructor instead.

    Raises:
        TypeError: a name that is not a field of ``model`` (the message names both).
    """
    plan = _instance_plan(model)
    state = dict(plan.constants)
    for attname, default in plan.factories:
        if attname not in values:
            state[attname] = default()
    related = []
    for name, value in values.items():
        relation = plan.relations.get(name)
        if relation is not None:
            if relation.attname in values:
                raise TypeError(
                    f"bulk.new: a {model.__name__} relation is given both as an object and as a key."
                )
            state[relation.attname] = None if value is None else value.pk
            related.append((relation, value))
        elif name in plan.attnames_set:
            state[name] = value
        else:
            raise TypeError(f"bulk.new: {model.__name__} has no field {name}.")
    if plan.direct:
        instance = model.__new__(model)
        instance._state = ModelState()
        instance.__dict__.update(state)
    else:
        instance = model(*[state[attname] for attname in plan.attnames])
    for relation, target in related:
        relation.set_cached_value(instance, target)
    return instance


@dataclass(frozen=True)
class _InstancePlan:
    attnames: tuple[str, ...]
    attnames_set: frozenset[str]
    # Defaults that are the same value every time (a literal, "" or None), by attribute name ...
    constants: dict[str, Any]
    # ... and those made afresh for each instance (a callable default: dict, list, a clock).
    factories: tuple[tuple[str, Callable[[], Any]], ...]
    # Relations given as objects, by field name.
    relations: dict[str, Any]
    # Whether an instance can be filled in without its constructor (see :func:`new`).
    direct: bool


@functools.cache
def _instance_plan(model: type[Model]) -> _InstancePlan:
    fields = model._meta.concrete_fields
    made_afresh = [field for field in fields if field.has_default() and callable(field.default)]
    return _InstancePlan(
        attnames=tuple(field.attname for field in fields),
        attnames_set=frozenset(field.attname for field in fields),
        # What the field's own get_default() returns each time for these: the same object.
        constants={field.attname: field.get_default() for field in fields if field not in made_afresh},
        factories=tuple((field.attname, field.default) for field in made_afresh),
        relations={field.name: field for field in fields if field.is_relation},
        direct=(
            model.__init__ is Model.__init__
            and not pre_init.has_listeners(model)
            and not post_init.has_listeners(model)
            and all(type(getattr(model, field.attname, None)) in _STANDARD_DESCRIPTORS for field in fields)
        ),
    )


def create(objects: Sequence[Model]) -> None:
    """Save new ``objects`` (unsaved instances of one model) and set their primary keys, as
    ``QuerySet.bulk_create`` does: ``auto_now``/``auto_now_add`` date-time fields are stamped (one moment
    for every object of the call), a foreign key given as an
    object saved since takes that object's key. No signals are sent and ``save()`` is not called.

    Raises:
        ValueError: the objects are of several models, one is already saved, or one refers to an object
            that has no primary key yet (the message names the model and field).
    """
    if not objects:
        return
    model = type(objects[0])
    plan = _creation_plan(model)
    columns = tuple(zip(plan.attnames, _bound(plan.statement.adapters), strict=True))
    # One moment for the whole call, as the rows are written together: adapting a timestamp for SQL costs
    # more than the rest of most values, and a repeated one is adapted once.
    stamp = timezone.now()
    rows = []
    for obj in objects:
        if type(obj) is not model or not obj._state.adding:
            raise ValueError(
                f"bulk.create: a {type(obj).__name__} (id {obj.pk}) is not a new {model.__name__}."
            )
        for field in plan.stamped:
            setattr(obj, field.attname, stamp)
        for field in plan.relations:
            if getattr(obj, field.attname) is None and field.is_cached(obj):
                related = field.get_cached_value(obj)
                if related is not None:
                    if related.pk is None:
                        raise ValueError(
                            f"bulk.create: {model.__name__}.{field.name} refers to an unsaved "
                            f"{type(related).__name__}; save it first."
                        )
                    setattr(obj, field.attname, related.pk)
        # Read from the instance's dict: every concrete field of a new instance is there, and going through
        # the fields' descriptors costs more than preparing most values.
        stored = obj.__dict__
        rows.append([adapt(stored[name]) for name, adapt in columns])
    alias = connection.alias
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH_ROWS):
            batch = rows[start : start + BATCH_ROWS]
            cursor.execute(plan.statement.sql(len(batch)), [value for row in batch for value in row])
            keys = cursor.fetchall()
            if len(keys) != len(batch):
                raise RuntimeError(
                    f"bulk.create: {len(batch)} {model.__name__} rows inserted, {len(keys)} keys back."
                )
            for obj, (key,) in zip(objects[start : start + BATCH_ROWS], keys, strict=True):
                obj.pk = key
                obj._state.adding = False
                obj._state.db = alias


def update(objects: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` (field names) of saved ``objects`` (instances of one model) to their rows, as
    ``QuerySet.bulk_update`` does, but as one ``UPDATE ... WHERE pk = %s`` run for every object
    (``executemany``) where bulk_update builds an expression for every object and field, which costs more
    than the rest of an updated record. As with bulk_update, every value is written as the instance holds
    it, ``auto_now`` fields included (set them to stamp them), and no signals are sent.

    Raises:
        ValueError: the objects are of several models, or one is not saved (the message names the model).
    """
    if not objects:
        return
    model = type(objects[0])
    plan = _update_plan(model, tuple(fields))
    columns = tuple(zip(plan.attnames, _bound(plan.adapters), strict=True))
    rows = []
    for obj in objects:
        if type(obj) is not model or obj.pk is None or obj._state.adding:
            raise ValueError(
                f"bulk.update: a {type(obj).__name__} (id {obj.pk}) is not a saved {model.__name__}."
            )
        rows.append([*(adapt(getattr(obj, name)) for name, adapt in columns), obj.pk])
    with connection.cursor() as cursor:
        cursor.executemany(plan.sql, rows)


@dataclass(frozen=True)
class _UpdatePlan:
    sql: str
    attnames: tuple[str, ...]
    adapters: tuple[_Adapter, ...]


@functools.cache
def _update_plan(model: type[Model], names: tuple[str, ...]) -> _UpdatePlan:
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in dict.fromkeys(names)]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    return _UpdatePlan(
        sql=f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s",
        attnames=tuple(field.attname for field in fields),
        adapters=tuple(_adapter(field) for field in fields),
    )


@dataclass(frozen=True)
class _CreationPlan:
    statement: _InsertStatement
    attnames: tuple[str, ...]
    stamped: tuple[Any, ...]
    relations: tuple[Any, ...]


@functools.cache
def _creation_plan(model: type[Model]) -> _CreationPlan:
    pk = model._meta.pk
    fields = [field for field in model._meta.concrete_fields if field is not pk]
    return _CreationPlan(
        statement=_insert_statement(
            model, fields, suffix=f" RETURNING {connection.ops.quote_name(pk.column)}"
        ),
        attnames=tuple(field.attname for field in fields),
        stamped=tuple(
            field
            for field in fields
            if isinstance(field, DateTimeField) and (field.auto_now or field.auto_now_add)
        ),
        relations=tuple(field for field in fields if field.is_relation),
    )


@dataclass(frozen=True)
class _InsertStatement:
    prefix: str
    row: str
    suffix: str
    adapters: tuple[_Adapter, ...]

    def sql(self, rows: int) -> str:
        return f"{self.prefix} {', '.join([self.row] * rows)}{self.suffix}"


@functools.cache
def _statement(
    model: type[Model], columns: tuple[str, ...], unique: tuple[str, ...], update: tuple[str, ...]
) -> _InsertStatement:
    quote = connection.ops.quote_name
    suffix = ""
    if unique:
        targets = ", ".join(quote(model._meta.get_field(name).column) for name in unique)
        changes = ", ".join(
            f"{quote(column)} = excluded.{quote(column)}"
            for column in (model._meta.get_field(name).column for name in update)
        )
        suffix = f" ON CONFLICT ({targets}) DO UPDATE SET {changes}"
    return _insert_statement(model, [model._meta.get_field(name) for name in columns], suffix)


def _insert_statement(model: type[Model], fields: Sequence[Any], suffix: str) -> _InsertStatement:
    quote = connection.ops.quote_name
    return _InsertStatement(
        prefix=(
            f"INSERT INTO {quote(model._meta.db_table)} "
            f"({', '.join(quote(field.column) for field in fields)}) VALUES"
        ),
        row=f"({', '.join(['%s'] * len(fields))})",
        suffix=suffix,
        adapters=tuple(_adapter(field) for field in fields),
    )


def _bound(adapters: Sequence[_Adapter]) -> list[Callable[[Any], Any]]:
    # The thread's own connection, not the ``connection`` proxy: the proxy looks the connection up again
    # on every attribute a field's preparation reads, once per value.
    db = connections[DEFAULT_DB_ALIAS]
    return [make(db) for make in adapters]


def _adapter(field) -> _Adapter:
    # Exact types only: a subclass (an encrypted text field, say) prepares its values its own way.
    if type(field) in _STORED_AS_GIVEN:
        return lambda db: _same
    if type(field) is models.DateTimeField:
        return lambda db: _RepeatedValue(db.ops.adapt_datetimefield_value)

    def as_django_saves(db) -> Callable[[Any], Any]:
        return functools.partial(field.get_db_prep_save, connection=db)

    if type(field) is models.JSONField and field.encoder is None:
        return lambda db: _json_text if db.vendor == "sqlite" else as_django_saves(db)
    return as_django_saves


def _same(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str | None:
    """A JSON column's value as Django's JSONField stores it on SQLite (``json.dumps``; None stays NULL),
    in a tenth of the time."""
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class _RepeatedValue:
    """``adapt``, remembering its last answer: the rows of a batch mostly share one timestamp object."""

    def __init__(self, adapt: Callable[[Any], Any]) -> None:
        self._adapt = adapt
        self._last: tuple[Any, Any] = (object(), None)

    def __call__(self, value: Any) -> Any:
        last = self._last
        if last[0] is value:
            return last[1]
        answer = self._adapt(value)
        self._last = (value, answer)
        return answer
