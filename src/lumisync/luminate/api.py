"""The Luminate API methods lumisync uses, written once for both clients.

Each method builds a plan (see :mod:`lumisync.luminate.protocol`) and hands it to ``self._run``: the
synchronous client runs it to completion and returns the result, the asynchronous client returns an
awaitable. Names mirror the endpoints in snake_case (``getUser`` is :meth:`get_user`).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lumisync.luminate import normalize
from lumisync.luminate.config import SiteConfig
from lumisync.luminate.errors import InvalidInput
from lumisync.luminate.protocol import Call, Plan, attempts

CONS = "SRConsAPI"
GROUP = "SRGroupAPI"
ADVOCACY = "SRAdvocacyAPI"

SUBJECT_LIMIT = 80
BODY_LIMIT = 1500
_CONS_ID_RE = re.compile(r"\d+")
_WRITE_PARAMS = frozenset(
    {
        "interaction_subject",
        "interaction_body",
        "source",
        "sub_source",
        "no_welcome",
        "add_center_ids",
        "remove_center_ids",
        "add_group_ids",
        "remove_group_ids",
    }
)


@dataclass(frozen=True)
class WriteResult:
    """What create, update, createOrUpdate and logInteraction answer: the record's id and a message."""

    cons_id: str | None
    message: str | None


@dataclass(frozen=True)
class UserField:
    """One row of listUserFields: ``name`` is the parameter create/update take."""

    name: str
    label: str | None
    value_type: str | None
    max_chars: int | None
    required: bool
    user_modifiable: bool | None
    group: str | None
    choices: tuple[str, ...]


def clip(value: str, limit: int, *, single_line: bool) -> str:
    """``value`` cut to ``limit`` characters as Luminate counts them (UTF-16 code units, as Java does).

    The cut never splits a surrogate pair or leaves a combining mark without its base, and ends with
    an ellipsis when something was removed. Control characters (which Luminate rejects with code 35)
    become spaces; a single-line value loses its line breaks too.
    """
    keep = "" if single_line else "\n\t"
    cleaned = "".join(
        ch if ch in keep or unicodedata.category(ch)[0] != "C" else " "
        for ch in unicodedata.normalize("NFC", value)
    )
    if single_line:
        cleaned = " ".join(cleaned.split())

    def units(s: str) -> int:
        return len(s.encode("utf-16-le")) // 2

    if units(cleaned) <= limit:
        return cleaned
    end, used = 0, 0
    for ch in cleaned:
        width = units(ch)
        if used + width > limit - 1:
            break
        used += width
        end += 1
    # Back off so a base character is never kept without the combining marks that follow it.
    while 0 < end < len(cleaned) and unicodedata.combining(cleaned[end]):
        end -= 1
    return cleaned[:end].rstrip() + "…"


def cons_id_param(value: Any, *, method: str) -> str:
    """``value`` as a cons_id string, refusing anything that is not a whole number."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(
            f"{method}: cons_id {value!r} is not a constituent ID (a whole number)", method=method
        )
    cons_id = str(value).strip()
    if not _CONS_ID_RE.fullmatch(cons_id):
        raise InvalidInput(
            f"{method}: cons_id {value!r} is not a constituent ID (a whole number)", method=method
        )
    return cons_id


def wire_value(name: str, value: Any, *, method: str) -> str:
    """A Python value as the form value Luminate takes for field ``name`` (booleans as "true"/"false")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float | str):
        return str(value)
    raise InvalidInput(
        f"{method}: field {name} = {value!r}: a {type(value).__name__} cannot be sent "
        "(use str, int, float, bool, date, datetime or None)",
        method=method,
    )


def _ids(name: str, values: Iterable[Any], *, method: str) -> list[tuple[str, str]]:
    joined = ",".join(wire_value(name, value, method=method) for value in values)
    return [(name, joined)] if joined else []


class Endpoints:
    """The API methods; subclasses supply ``_run`` (execute a plan) and ``site``."""

    site: SiteConfig
    _rng: random.Random
    field_types: Mapping[str, str] | None = None

    def _run(self, plan: Plan) -> Any:
        raise NotImplementedError

    def _call(self, call: Call) -> Plan:
        return attempts(call, self.site.retry, self._rng)

    # -- lookups ---------------------------------------------------------------------------------

    @staticmethod
    def _lookup(
        method: str, cons_id: Any, member_id: Any, primary_email: Any
    ) -> tuple[list[tuple[str, str]], str]:
        params: list[tuple[str, str]] = []
        if cons_id is not None:
            params.append(("cons_id", cons_id_param(cons_id, method=method)))
        if member_id is not None and str(member_id).strip():
            params.append(("member_id", str(member_id).strip()))
        if primary_email is not None and str(primary_email).strip():
            params.append(("primary_email", str(primary_email).strip()))
        if not params:
            raise InvalidInput(
                f"{method}: give a cons_id, member_id or primary_email to look the record up", method=method
            )
        name, value = params[0]
        return params, f"{name}={value}"

    def get_user(
        self,
        *,
        cons_id: str | int | None = None,
        member_id: str | None = None,
        primary_email: str | None = None,
        fields: Iterable[str] | None = None,
    ) -> Any:
        """getUser: one constituent as a flat dict (see :mod:`lumisync.luminate.normalize`).

        Lookup precedence is Luminate's: cons_id, then member_id, then primary_email.
        """
        params, subject = self._lookup("getUser", cons_id, member_id, primary_email)
        if fields:
            params.append(("fields", ",".join(fields)))
        call = Call(CONS, "getUser", tuple(params), subject)

        def plan() -> Plan:
            payload = yield from self._call(call)
            return normalize.constituent(payload, self.field_types)

        return self._run(plan())

    # -- writes ----------------------------------------------------------------------------------

    def _write_call(
        self,
        method: str,
        lookup: list[tuple[str, str]],
        subject: str,
        fields: Mapping[str, Any] | None,
        interaction_subject: str,
        interaction_body: str,
        *,
        source: str | None = None,
        sub_source: str | None = None,
        no_welcome: bool | None = None,
        add_center_ids: Iterable[Any] = (),
        remove_center_ids: Iterable[Any] = (),
        add_group_ids: Iterable[Any] = (),
        remove_group_ids: Iterable[Any] = (),
    ) -> Call:
        params = list(lookup)
        given = dict(lookup)
        for name, value in (fields or {}).items():
            if not isinstance(name, str) or not name.strip():
                raise InvalidInput(f"{method}: field name {name!r} is empty or not text", method=method)
            if name in _WRITE_PARAMS:
                raise InvalidInput(
                    f"{method}: pass {name} as its own argument, not as a field", method=method
                )
            wired = wire_value(name, value, method=method)
            if name in given:
                if given[name] != wired:
                    raise InvalidInput(
                        f"{method}: {name} is both the lookup key ({given[name]!r}) and a field value ({wired!r})",
                        method=method,
                    )
                continue
            params.append((name, wired))
        for name, value in (("source", source), ("sub_source", sub_source)):
            if value:
                params.append((name, value))
        if no_welcome is not None:
            params.append(("no_welcome", wire_value("no_welcome", no_welcome, method=method)))
        for name, values in (
            ("add_center_ids", add_center_ids),
            ("remove_center_ids", remove_center_ids),
            ("add_group_ids", add_group_ids),
            ("remove_group_ids", remove_group_ids),
        ):
            params.extend(_ids(name, values, method=method))
        params.extend(self._interaction(method, interaction_subject, interaction_body))
        return Call(CONS, method, tuple(params), subject)

    @staticmethod
    def _interaction(method: str, subject: str, body: str) -> list[tuple[str, str]]:
        clipped = clip(subject or "", SUBJECT_LIMIT, single_line=True)
        if not clipped:
            raise InvalidInput(
                f"{method}: interaction_subject is empty; Luminate requires one", method=method
            )
        return [
            ("interaction_subject", clipped),
            ("interaction_body", clip(body or "", BODY_LIMIT, single_line=False)),
        ]

    def _write(self, call: Call) -> Any:
        def plan() -> Plan:
            payload = yield from self._call(call)
            return WriteResult(
                cons_id=normalize.text(payload.get("cons_id")), message=normalize.text(payload.get("message"))
            )

        return self._run(plan())

    def create(
        self,
        fields: Mapping[str, Any],
        *,
        interaction_subject: str,
        interaction_body: str,
        source: str | None = None,
        sub_source: str | None = None,
        no_welcome: bool | None = None,
        add_center_ids: Iterable[Any] = (),
        add_group_ids: Iterable[Any] = (),
    ) -> Any:
        """create: a new constituent from ``fields`` (``{"primary_email": ..., "custom_boolean50": True}``).

        Luminate answers code 11 (:class:`Duplicate`) when the record exists; fall back to :meth:`update`.
        """
        call = self._write_call(
            "create",
            [],
            f"primary_email={fields.get('primary_email', '')}",
            fields,
            interaction_subject,
            interaction_body,
            source=source,
            sub_source=sub_source,
            no_welcome=no_welcome,
            add_center_ids=add_center_ids,
            add_group_ids=add_group_ids,
        )
        return self._write(call)

    def update(
        self,
        fields: Mapping[str, Any],
        *,
        interaction_subject: str,
        interaction_body: str,
        cons_id: str | int | None = None,
        member_id: str | None = None,
        primary_email: str | None = None,
        add_center_ids: Iterable[Any] = (),
        remove_center_ids: Iterable[Any] = (),
        add_group_ids: Iterable[Any] = (),
        remove_group_ids: Iterable[Any] = (),
    ) -> Any:
        """update: set ``fields`` on the constituent found by the lookup keys."""
        lookup, subject = self._lookup("update", cons_id, member_id, primary_email)
        call = self._write_call(
            "update",
            lookup,
            subject,
            fields,
            interaction_subject,
            interaction_body,
            add_center_ids=add_center_ids,
            remove_center_ids=remove_center_ids,
            add_group_ids=add_group_ids,
            remove_group_ids=remove_group_ids,
        )
        return self._write(call)

    def create_or_update(
        self,
        fields: Mapping[str, Any],
        *,
        interaction_subject: str,
        interaction_body: str,
        cons_id: str | int | None = None,
        member_id: str | None = None,
        primary_email: str | None = None,
        source: str | None = None,
        sub_source: str | None = None,
        no_welcome: bool | None = None,
        add_center_ids: Iterable[Any] = (),
        remove_center_ids: Iterable[Any] = (),
        add_group_ids: Iterable[Any] = (),
        remove_group_ids: Iterable[Any] = (),
    ) -> Any:
        """createOrUpdate: update the constituent the lookup finds, or create it.

        With no lookup argument, ``fields["primary_email"]`` is the lookup key, as Luminate does it.
        """
        if cons_id is None and member_id is None and primary_email is None:
            lookup, subject = [], f"primary_email={fields.get('primary_email', '')}"
        else:
            lookup, subject = self._lookup("createOrUpdate", cons_id, member_id, primary_email)
        call = self._write_call(
            "createOrUpdate",
            lookup,
            subject,
            fields,
            interaction_subject,
            interaction_body,
            source=source,
            sub_source=sub_source,
            no_welcome=no_welcome,
            add_center_ids=add_center_ids,
            remove_center_ids=remove_center_ids,
            add_group_ids=add_group_ids,
            remove_group_ids=remove_group_ids,
        )
        return self._write(call)

    def log_interaction(
        self,
        *,
        interaction_subject: str,
        interaction_body: str = "",
        cons_id: str | int | None = None,
        member_id: str | None = None,
        primary_email: str | None = None,
        interaction_type_id: int | None = None,
        interaction_cat_id: int | None = None,
    ) -> Any:
        """logInteraction: note an interaction on the constituent (Luminate answers under updateConsResponse)."""
        params, subject = self._lookup("logInteraction", cons_id, member_id, primary_email)
        params.extend(self._interaction("logInteraction", interaction_subject, interaction_body))
        for name, value in (
            ("interaction_type_id", interaction_type_id),
            ("interaction_cat_id", interaction_cat_id),
        ):
            if value is not None:
                params.append((name, str(value)))
        return self._write(Call(CONS, "logInteraction", tuple(params), subject))

    # -- reads about a constituent ---------------------------------------------------------------

    def _listing(self, call: Call, key: str) -> Any:
        def plan() -> Plan:
            payload = yield from self._call(call)
            return [normalize.plain(item) for item in normalize.as_list(payload.get(key))]

        return self._run(plan())

    def get_user_groups(
        self,
        *,
        cons_id: str | int | None = None,
        member_id: str | None = None,
        primary_email: str | None = None,
    ) -> Any:
        """getUserGroups: the constituent's groups as ``[{"id": "1010", "label": "Puppy Lovers"}, ...]``."""
        params, subject = self._lookup("getUserGroups", cons_id, member_id, primary_email)
        return self._listing(Call(CONS, "getUserGroups", tuple(params), subject), "group")

    def get_user_centers(
        self,
        *,
        cons_id: str | int | None = None,
        member_id: str | None = None,
        primary_email: str | None = None,
    ) -> Any:
        """getUserCenters: the constituent's centers (empty on a site without centers)."""
        params, subject = self._lookup("getUserCenters", cons_id, member_id, primary_email)
        return self._listing(Call(CONS, "getUserCenters", tuple(params), subject), "center")

    def get_user_interactions(
        self,
        *,
        cons_id: str | int | None = None,
        member_id: str | None = None,
        primary_email: str | None = None,
        interaction_type_id: int | None = None,
        list_page_size: int | None = None,
        list_page_offset: int | None = None,
    ) -> Any:
        """getUserInteractions: one page of interactions as flat dicts (``subject``, ``note.text`` ...)."""
        params, subject = self._lookup("getUserInteractions", cons_id, member_id, primary_email)
        for name, value in (
            ("interaction_type_id", interaction_type_id),
            ("list_page_size", list_page_size),
            ("list_page_offset", list_page_offset),
        ):
            if value is not None:
                params.append((name, str(value)))
        return self._listing(Call(CONS, "getUserInteractions", tuple(params), subject), "interaction")

    def list_user_fields(self, *, access: str = "update", include_choices: bool = True) -> Any:
        """listUserFields: the fields the API login may ``access`` (``view`` or ``update``)."""
        if access not in ("view", "update"):
            raise InvalidInput(
                f"listUserFields: access {access!r} must be 'view' or 'update'", method="listUserFields"
            )
        call = Call(
            CONS,
            "listUserFields",
            (("access", access), ("include_choices", "true" if include_choices else "false")),
        )

        def plan() -> Plan:
            payload = yield from self._call(call)
            return [_user_field(item) for item in normalize.as_list(payload.get("field"))]

        return self._run(plan())

    # -- groups and advocacy ---------------------------------------------------------------------

    def list_groups(self, *, selection_mode: str | None = None, page_size: int = 100) -> Any:
        """listGroups: every group, reading page after page until a short or empty page."""
        if page_size < 1:
            raise InvalidInput(f"listGroups: page_size {page_size!r} must be at least 1", method="listGroups")

        def plan() -> Plan:
            groups: list[dict[str, Any]] = []
            seen: set[str] = set()
            offset = 0
            while True:
                params = [("list_page_size", str(page_size)), ("list_page_offset", str(offset))]
                if selection_mode:
                    params.append(("selection_mode", selection_mode))
                payload = yield from self._call(Call(GROUP, "listGroups", tuple(params)))
                page = [
                    normalize.plain(item) for item in normalize.as_list(_first(payload, "groupInfo", "group"))
                ]
                fresh = [group for group in page if group.get("id") not in seen]
                seen.update(group.get("id") for group in fresh)
                groups.extend(fresh)
                # A site that ignores list_page_offset would repeat its first page forever.
                if len(page) < page_size or not fresh:
                    return groups
                offset += 1

        return self._run(plan())

    def take_call_action(
        self,
        *,
        cons_id: str | int,
        alert_id: str | int,
        called: bool = True,
        contact_name: str | None = None,
        contact_position: str | None = None,
        note: str | None = None,
        preview: bool = False,
    ) -> Any:
        """takeAction for a call alert: the constituent phoned their target; returns the reply flattened."""
        params = [
            ("cons_id", cons_id_param(cons_id, method="takeAction")),
            ("alert_id", str(alert_id)),
            ("alert_type", "call"),
            ("recipient", "call"),
            ("called", "true" if called else "false"),
        ]
        for name, value in (
            ("contact_name", contact_name),
            ("contact_position", contact_position),
            ("note", note),
        ):
            if value:
                params.append((name, value))
        if preview:
            params.append(("preview", "true"))
        call = Call(ADVOCACY, "takeAction", tuple(params), f"cons_id={params[0][1]}")

        def plan() -> Plan:
            payload = yield from self._call(call)
            return normalize.plain(payload)

        return self._run(plan())


def _first(payload: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in payload:
            return payload[key]
    return None


def _user_field(item: Mapping[str, Any]) -> UserField:
    choices = item.get("choices")
    raw_choices = normalize.as_list(choices.get("choice")) if isinstance(choices, Mapping) else []
    return UserField(
        name=normalize.text(item.get("name")) or "",
        label=normalize.text(item.get("label")),
        value_type=normalize.text(item.get("valueType")),
        max_chars=normalize.integer(item.get("maxChars")),
        required=bool(normalize.boolean(item.get("required"))),
        user_modifiable=normalize.boolean(item.get("isUserModifiable")),
        group=normalize.text(item.get("group")),
        choices=tuple(
            normalize.text(
                choice.get("value", choice.get("label")) if isinstance(choice, Mapping) else choice
            )
            or ""
            for choice in raw_choices
        ),
    )
