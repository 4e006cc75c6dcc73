"""Many rows into one table with SQL compiled once per table: for the sync's high-volume rows (profiles,
consent events, subscriptions, welcome messages, report rows, link snapshots: one or more per constituent).

``QuerySet.bulk_create`` compiles SQL and prepares every value of every row through the full field
machinery, which costs more than the rest of a file-mode record together; here each value goes through a
preparation picked once per field, and the statement is built once per table and batch size.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import DateTimeField, Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from lumisync.core.fields import JSONField, json_text

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
    prepare = _prepared(statement.adapters)
    values = []
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(
                f"bulk.insert: a {model.__name__} row has {len(row)} values for {len(columns)} columns."
            )
        values.append(prepare(list(row)))
    # Many rows per statement rather than ``executemany``: SQLite's driver lets go of the GIL for every
    # statement it runs, and with the inbound sync's reading thread busy each release is a thread switch.
    with connection.cursor() as cursor:
        for start in range(0, len(values), BATCH_ROWS):
            batch = values[start : start + BATCH_ROWS]
            cursor.execute(statement.sql(len(batch)), list(chain.from_iterable(batch)))


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
    relations, factories = plan.given(tuple(values))
    state = {**plan.constants, **values}
    for attname, default in factories:
        state[attname] = default()
    for relation in relations:
        target = state.pop(relation.name)
        state[relation.attname] = None if target is None else target.pk
    if plan.direct:
        instance = model.__new__(model)
        state["_state"] = ModelState()
        instance.__dict__ = state
    else:
        instance = model(*[state[attname] for attname in plan.attnames])
    for relation in relations:
        relation.set_cached_value(instance, values[relation.name])
    return instance


@dataclass(frozen=True)
class _InstancePlan:
    model: type[Model]
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
    # What :meth:`given` found for each set of names it was asked about: a call site names the same ones
    # every time.
    checked: dict[tuple[str, ...], tuple[tuple[Any, ...], tuple[tuple[str, Callable[[], Any]], ...]]] = (
        dataclasses.field(default_factory=dict)
    )

    def given(self, names: tuple[str, ...]):
        """For the field names ``names``: the relations among them (given as objects), and the callable
        defaults of the fields not among them.

        Raises:
            TypeError: a name that is not a field, or a relation given both as an object and as a key.
        """
        found = self.checked.get(names)
        if found is None:
            found = self.checked[names] = self._check(names)
        return found

    def _check(self, names: tuple[str, ...]):
        model = self.model.__name__
        relations = []
        for name in names:
            relation = self.relations.get(name)
            if relation is not None:
                if relation.attname in names:
                    raise TypeError(f"bulk.new: a {model} relation is given both as an object and as a key.")
                relations.append(relation)
            elif name not in self.attnames_set:
                raise TypeError(f"bulk.new: {model} has no field {name}.")
        covered = set(names) | {relation.attname for relation in relations}
        return tuple(relations), tuple(item for item in self.factories if item[0] not in covered)


@functools.cache
def _instance_plan(model: type[Model]) -> _InstancePlan:
    fields = model._meta.concrete_fields
    made_afresh = [field for field in fields if field.has_default() and callable(field.default)]
    return _InstancePlan(
        model=model,
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
    prepare = _prepared(plan.statement.adapters)
    # One moment for the whole call, as the rows are written together: adapting a timestamp for SQL costs
    # more than the rest of most values, and a repeated one is adapted once.
    stamp = timezone.now()
    rows = []
    for obj in objects:
        state = obj._state
        if type(obj) is not model or not state.adding:
            raise ValueError(
                f"bulk.create: a {type(obj).__name__} (id {obj.pk}) is not a new {model.__name__}."
            )
        # The instance's dict and its relations' cache, not the fields' descriptors: every concrete field of
        # a new instance is in its dict, and the descriptors cost more than preparing most values.
        stored = obj.__dict__
        for attname in plan.stamped:
            stored[attname] = stamp
        for attname, cache_name, name in plan.relations:
            if stored[attname] is None and (related := state.fields_cache.get(cache_name)) is not None:
                if related.pk is None:
                    raise ValueError(
                        f"bulk.create: {model.__name__}.{name} refers to an unsaved "
                        f"{type(related).__name__}; save it first."
                    )
                stored[attname] = related.pk
        rows.append(prepare(list(plan.stored(stored))))
    alias = connection.alias
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH_ROWS):
            batch = rows[start : start + BATCH_ROWS]
            cursor.execute(plan.statement.sql(len(batch)), list(chain.from_iterable(batch)))
            keys = cursor.fetchall()
            if len(keys) != len(batch):
                raise RuntimeError(
                    f"bulk.create: {len(batch)} {model.__name__} rows inserted, {len(keys)} keys back."
                )
            for obj, (key,) in zip(objects[start : start + BATCH_ROWS], keys, strict=True):
                obj.__dict__[plan.pk_attname] = key
                obj._state.adding = False
                obj._state.db = alias


def update(
    objects: Sequence[Model], fields: Sequence[str], *, unless: tuple[str, Sequence[Any]] | None = None
) -> None:
    """Write ``fields`` (field names) of saved ``objects`` (instances of one model) to their rows, as
    ``QuerySet.bulk_update`` does, but as one ``UPDATE ... WHERE pk = %s`` run for every object
    (``executemany``) where bulk_update builds an expression for every object and field, which costs more
    than the rest of an updated record. As with bulk_update, every value is written as the instance holds
    it, ``auto_now`` fields included (set them to stamp them), and no signals are sent.

    ``unless`` (a field name and values) leaves alone a row whose stored value of that field is one of
    the values, whatever the instance holds.

    Raises:
        ValueError: the objects are of several models, or one is not saved (the message names the model).
    """
    if not objects:
        return
    model = type(objects[0])
    guard_name, guard_values = unless if unless is not None else (None, ())
    plan = _update_plan(model, tuple(fields), guard_name, len(guard_values))
    # The key and the guard's values follow the fields, which alone are prepared.
    prepare = _prepared(plan.adapters)
    rows = []
    for obj in objects:
        if type(obj) is not model or obj.pk is None or obj._state.adding:
            raise ValueError(
                f"bulk.update: a {type(obj).__name__} (id {obj.pk}) is not a saved {model.__name__}."
            )
        rows.append(prepare([*(getattr(obj, name) for name in plan.attnames), obj.pk, *guard_values]))
    with connection.cursor() as cursor:
        cursor.executemany(plan.sql, rows)


@dataclass(frozen=True)
class _UpdatePlan:
    sql: str
    attnames: tuple[str, ...]
    adapters: tuple[_Adapter, ...]


@functools.cache
def _update_plan(
    model: type[Model], names: tuple[str, ...], guard_name: str | None, guard_values: int
) -> _UpdatePlan:
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in dict.fromkeys(names)]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"
    if guard_name is not None and guard_values:
        column = quote(model._meta.get_field(guard_name).column)
        sql += f" AND {column} NOT IN ({', '.join(['%s'] * guard_values)})"
    return _UpdatePlan(
        sql=sql,
        attnames=tuple(field.attname for field in fields),
        adapters=tuple(_adapter(field) for field in fields),
    )


@dataclass(frozen=True)
class _CreationPlan:
    statement: _InsertStatement
    # The values of the statement's columns from an instance's ``__dict__``, in order.
    stored: Callable[[dict[str, Any]], tuple[Any, ...]]
    pk_attname: str
    # The attribute names of the date-time fields stamped on saving ...
    stamped: tuple[str, ...]
    # ... and, for each relation, its attribute name, its name in the instance's cache and its field name.
    relations: tuple[tuple[str, str, str], ...]


@functools.cache
def _creation_plan(model: type[Model]) -> _CreationPlan:
    if any(link is not None for link in model._meta.parents.values()):
        # Its key is its parent's, which a row of one table cannot give.
        raise TypeError(f"bulk.create: {model.__name__} inherits from another model's table.")
    pk = model._meta.pk
    fields = [field for field in model._meta.concrete_fields if field is not pk]
    return _CreationPlan(
        statement=_insert_statement(
            model, fields, suffix=f" RETURNING {connection.ops.quote_name(pk.column)}"
        ),
        stored=_getter(tuple(field.attname for field in fields)),
        pk_attname=pk.attname,
        stamped=tuple(
            field.attname
            for field in fields
            if isinstance(field, DateTimeField) and (field.auto_now or field.auto_now_add)
        ),
        relations=tuple(
            (field.attname, field.cache_name, field.name) for field in fields if field.is_relation
        ),
    )


def _getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The values of ``names`` from a dict, as a tuple (``itemgetter`` of one name gives the bare value)."""
    if len(names) == 1:
        [name] = names
        return lambda stored: (stored[name],)
    return operator.itemgetter(*names)


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


def _prepared(adapters: Sequence[_Adapter]) -> Callable[[list[Any]], list[Any]]:
    """A function that prepares a row's values (a list, changed in place and returned) for the thread's
    connection, calling only the preparations that change a value."""
    # The thread's own connection, not the ``connection`` proxy: the proxy looks the connection up again
    # on every attribute a field's preparation reads, once per value.
    db = connections[DEFAULT_DB_ALIAS]
    changing = [(index, adapt) for index, make in enumerate(adapters) if (adapt := make(db)) is not _same]

    def prepare(row: list[Any]) -> list[Any]:
        for index, adapt in changing:
            row[index] = adapt(row[index])
        return row

    return prepare


def _adapter(field) -> _Adapter:
    # Exact types only: a subclass (an encrypted text field, say) prepares its values its own way.
    if type(field) in _STORED_AS_GIVEN:
        return lambda db: _same
    if type(field) is models.DateTimeField:
        return lambda db: _RepeatedValue(db.ops.adapt_datetimefield_value)

    def as_django_saves(db) -> Callable[[Any], Any]:
        return functools.partial(field.get_db_prep_save, connection=db)

    if type(field) in (models.JSONField, JSONField) and field.encoder is None:
        return lambda db: _json_text if db.vendor == "sqlite" else as_django_saves(db)
    return as_django_saves


def _same(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str | None:
    # What JSONField.get_db_prep_save gives on SQLite, without its calls in between: None stays NULL.
    return None if value is None else json_text(value)


class _RepeatedValue:
    """``adapt``, remembering its answers for one statement's rows, which mostly share a few timestamps (a
    run's moment, a sending window's opening)."""

    def __init__(self, adapt: Callable[[Any], Any]) -> None:
        self._adapt = adapt
        self._answers: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        # Two times of one zone in the hour repeated when clocks go back compare equal: the fold tells them
        # apart.
        key = (value, getattr(value, "fold", 0))
        try:
            return self._answers[key]
        except KeyError:
            answer = self._answers[key] = self._adapt(value)
            return answer
