"""The inbound decision table of ``policy.md``, record by record, as one pure function.

:func:`decide` sees one mapped Luminate record, the platform profiles it matches (by constituent link and
by mobile number) and the snapshot of the last successful sync of that link, and returns a
:class:`Decision`: what to write, the report category and the human reason. It touches no database and
no network, so every row of the table is tested directly; the engine gathers the inputs and applies the
decision in bulk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from lumisync.subscribers.fields import PROFILE_FIELDS

SyncType = Literal["liberal", "conservative"]
ConflictPolicy = Literal["hold", "luminate_wins", "platform_wins", "newest_wins"]
SyncedStatus = Literal["never", "pending", "active", "opted_out"]


class Category(StrEnum):
    """Report categories: Mobile Commons' own, plus Created and Updated."""

    CREATED = "Created"
    UPDATED = "Updated"
    DEFERRED_SUBSCRIPTION = "Deferred Subscription"
    FIELD_CONFLICT = "Field Conflict"
    NO_NEW_CHANGES = "No New Changes"
    NO_DIFFERENCE = "No Difference"
    UNABLE_TO_UPDATE = "Unable to Update"
    NO_IMPORT = "No Import"
    NO_EXPORT = "No Export"
    SKIPPED_MEMBERS = "Skipped Members"
    VALIDATION_ERROR = "Validation Error"
    PROCESSING_ERROR = "Processing Error"


@dataclass(frozen=True)
class Rules:
    sync_type: SyncType
    center_ids: frozenset[str] = frozenset()
    required_fields: frozenset[str] = frozenset()
    conflict_policy: ConflictPolicy = "hold"
    # The longest value the platform keeps per field (and for "constituent_id", the ID itself).
    field_limits: Mapping[str, int] = field(default_factory=dict)

    # Sorted once, as every record is checked against them in this order.
    @functools.cached_property
    def required_in_order(self) -> tuple[str, ...]:
        return tuple(sorted(self.required_fields))

    @functools.cached_property
    def limits_in_order(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(self.field_limits.items()))


@dataclass(frozen=True)
class Incoming:
    """One Luminate record after mapping.

    ``phone`` is the E.164 mobile number when the raw value is a valid mobile for the organization's
    region; otherwise ``phone_problem`` says why not (quoting the value). ``phone_zone`` is its time zone
    as read with it ("" when its prefix spans several; None when not worked out). An email that is not a
    valid address is left empty in ``fields`` and ``email_problem`` says why (quoting it).
    """

    cons_id: str
    fields: Mapping[str, str]
    phone_raw: str
    phone: str | None
    phone_problem: str | None
    opted_in: bool
    centers: frozenset[str] = frozenset()
    modified_at: datetime | None = None
    email_problem: str | None = None
    phone_zone: str | None = None


@dataclass(frozen=True)
class Existing:
    """A platform profile as the policy needs to see it."""

    profile_id: int
    constituent_id: str | None
    phone: str
    fields: Mapping[str, str]
    opted_out_globally: bool
    synced_status: SyncedStatus
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    """The mapped values (and opt-in) of a link as they were at its last successful sync."""

    fields: Mapping[str, str]
    opted_in: bool
    phone: str | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True)
class PathChoice:
    path_id: int
    name: str
    requires_confirmation: bool


@dataclass
class Decision:
    category: Category
    reason: str
    # What to write. ``profile_id`` None with ``create`` means a new profile.
    create: bool = False
    profile_id: int | None = None
    link: bool = False
    field_changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    held_conflicts: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Every field was compared afresh, so ``held_conflicts`` replaces the constituent's open conflicts.
    compared_fields: bool = False
    subscribe_path: PathChoice | None = None
    withdraw_profile_id: int | None = None
    unlink_profile_id: int | None = None
    next_snapshot: Snapshot | None = None

    @property
    def writes(self) -> bool:
        return bool(
            self.create
            or self.link
            or self.field_changes
            or self.subscribe_path
            or self.withdraw_profile_id
            or self.unlink_profile_id
        )


# The reasons of the decisions that change a profile other than the one at the record's mobile number
# (the link moved off it) or opt a profile out. A report row keeps nothing else of its decision, and the
# engine must tell such a row from the others when a later record of the run takes that number.
LINK_MOVED = "the link moved and the old number was opted out of the synced campaigns"
OPT_IN_WITHDRAWN = "Luminate opt-in withdrawn: opted out of the synced campaigns"


def wrote_beyond_its_number(reason: str) -> bool:
    """Whether the decision with this reason moved a link off a profile or opted one out."""
    return LINK_MOVED in reason or OPT_IN_WITHDRAWN in reason


def decide(
    rules: Rules,
    record: Incoming,
    *,
    by_link: Existing | None,
    by_phone: Existing | None,
    snapshot: Snapshot | None,
    path_for: Callable[[], PathChoice | None],
) -> Decision:
    """Apply the inbound rows of ``policy.md`` (3 and 4 are the engine's: they happen before mapping)."""
    withdrawn = by_link is not None and snapshot is not None and snapshot.opted_in and not record.opted_in

    problem = _ineligible(rules, record, withdrawn)
    if problem is not None:
        if withdrawn:
            return _withdrawal_only(record, by_link, snapshot, problem)
        return Decision(Category.NO_IMPORT, problem)

    target, moved_from, skip_reason = _resolve_identity(record, by_link, by_phone)
    if skip_reason is not None:
        if withdrawn:
            return _withdrawal_only(record, by_link, snapshot, skip_reason)
        return Decision(Category.SKIPPED_MEMBERS, skip_reason)

    if (
        target is not None
        and moved_from is None
        and snapshot is not None
        and not withdrawn
        and record.modified_at is not None
        and snapshot.modified_at is not None
        and record.modified_at <= snapshot.modified_at
    ):
        return Decision(Category.NO_NEW_CHANGES, "Not modified in Luminate since the last sync.")

    if target is None:
        return _create(rules, record, moved_from, withdrawn, path_for)
    return _update(
        rules, record, target, moved_from, snapshot if moved_from is None else None, withdrawn, path_for
    )


def _ineligible(rules: Rules, record: Incoming, withdrawn: bool) -> str | None:
    """Rows 5–9 and 11: the reason the record is not imported, or None."""
    if rules.center_ids and not (record.centers & rules.center_ids):
        return "Not in any of the configured centers ({}).".format(", ".join(sorted(rules.center_ids)))
    if not record.phone_raw.strip():
        return "No mobile number in Luminate."
    if record.phone is None:
        return record.phone_problem or f"The mobile number {record.phone_raw!r} is not valid."
    if not record.fields.get("email", "").strip():
        return record.email_problem or "No email address in Luminate (email is required)."
    if rules.sync_type == "conservative" and not record.opted_in and not withdrawn:
        return "Not opted in to SMS in Luminate (Conservative sync)."
    for name in rules.required_in_order:
        if not record.fields.get(name, "").strip():
            return f"The required field {name!r} is empty in Luminate."
    for name, limit in rules.limits_in_order:
        value = record.cons_id if name == "constituent_id" else record.fields.get(name, "")
        if len(value) > limit:
            return (
                f"The {name} {quoted(value)} is {len(value)} characters long; this platform keeps at most "
                f"{limit}."
            )
    return None


def quoted(value: str) -> str:
    """A value for a reason: quoted, and cut short when long."""
    return repr(value) if len(value) <= 80 else f"{value[:80]!r}…"


def withdrawal(
    record: Incoming, by_link: Existing | None, snapshot: Snapshot | None, problem: str
) -> Decision | None:
    """Row 10 alone, for a record the engine skips before deciding (another record of the run wins its
    mobile number): the opt-out when its opt-in was withdrawn, else None."""
    if by_link is None or snapshot is None or not snapshot.opted_in or record.opted_in:
        return None
    return _withdrawal_only(record, by_link, snapshot, problem)


def _withdrawal_only(record: Incoming, linked: Existing, snapshot: Snapshot, problem: str) -> Decision:
    return Decision(
        Category.UPDATED,
        f"{OPT_IN_WITHDRAWN}. Fields not updated: {problem}",
        withdraw_profile_id=linked.profile_id,
        next_snapshot=Snapshot(snapshot.fields, False, snapshot.phone, record.modified_at),
    )


def _resolve_identity(
    record: Incoming, by_link: Existing | None, by_phone: Existing | None
) -> tuple[Existing | None, Existing | None, str | None]:
    """Rows 12 and 22: (the profile to update or None to create, the profile the link moves from, skip reason)."""
    if by_phone is not None and by_phone.constituent_id not in (None, record.cons_id):
        if by_link is not None:
            return (
                None,
                None,
                (
                    f"Constituent {record.cons_id} is linked to profile {by_link.phone}, and its mobile number "
                    f"{record.phone} belongs to a profile linked to constituent {by_phone.constituent_id}."
                ),
            )
        return (
            None,
            None,
            (
                f"The mobile number {record.phone} belongs to a profile linked to constituent "
                f"{by_phone.constituent_id}, not {record.cons_id}."
            ),
        )
    if by_link is None:
        return by_phone, None, None
    if by_link.phone == record.phone:
        return by_link, None, None
    return by_phone, by_link, None


def _create(
    rules: Rules,
    record: Incoming,
    moved_from: Existing | None,
    withdrawn: bool,
    path_for: Callable[[], PathChoice | None],
) -> Decision:
    values = {name: record.fields.get(name, "") for name in PROFILE_FIELDS}
    decision = Decision(
        Category.CREATED,
        "New profile from Luminate.",
        create=True,
        link=True,
        field_changes={name: ("", value) for name, value in values.items() if value},
        next_snapshot=Snapshot(values, record.opted_in, record.phone, record.modified_at),
        compared_fields=True,
    )
    _moved(decision, record, moved_from)
    if withdrawn:
        # The person's new number, the night they withdrew: consent wins over Liberal's completeness.
        decision.reason += " Not subscribed: the SMS opt-in was withdrawn in Luminate."
    elif rules.sync_type == "liberal" or record.opted_in:
        decision.reason += " " + _subscribe(decision, path_for)
    else:
        decision.reason += " Not subscribed: not opted in to SMS in Luminate."
    return decision


def _update(
    rules: Rules,
    record: Incoming,
    target: Existing,
    moved_from: Existing | None,
    snapshot: Snapshot | None,
    withdrawn: bool,
    path_for: Callable[[], PathChoice | None],
) -> Decision:
    changes, held, next_fields = _merge_fields(rules, record, target, snapshot)
    decision = Decision(
        Category.UPDATED,
        "",
        profile_id=target.profile_id,
        link=target.constituent_id != record.cons_id,
        field_changes=changes,
        held_conflicts=held,
        next_snapshot=Snapshot(next_fields, record.opted_in, record.phone, record.modified_at),
        compared_fields=True,
    )
    reasons = []
    if changes:
        reasons.append("Changed in Luminate: " + ", ".join(sorted(changes)) + ".")
    if decision.link:
        reasons.append(f"Linked to constituent {record.cons_id} by mobile number.")
    if withdrawn:
        decision.withdraw_profile_id = target.profile_id
        reasons.append(f"{OPT_IN_WITHDRAWN}.")
    elif target.opted_out_globally or target.synced_status == "opted_out":
        reasons.append("Opted out on this platform: never re-subscribed by the sync.")
    elif target.synced_status == "never" and (rules.sync_type == "liberal" or record.opted_in):
        reasons.append(_subscribe(decision, path_for))
    decision.reason = " ".join(reason for reason in reasons if reason)
    _moved(decision, record, moved_from)

    if held:
        decision.category = Category.FIELD_CONFLICT
        decision.reason = (
            "Changed on both sides since the last sync: "
            + ", ".join(
                f"{name} (ours {ours!r}, Luminate {theirs!r})"
                for name, (ours, theirs) in sorted(held.items())
            )
            + ". "
            + decision.reason
        ).strip()
    elif not decision.writes:
        decision.category = Category.NO_DIFFERENCE
        decision.reason = decision.reason or "The Luminate values equal the profile's."
        if target.opted_out_globally or target.synced_status == "opted_out":
            decision.reason = "No difference. Opted out on this platform: never re-subscribed by the sync."
    return decision


def _merge_fields(
    rules: Rules, record: Incoming, target: Existing, snapshot: Snapshot | None
) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]], dict[str, str]]:
    """Rows 17–19: the field changes to apply, the conflicts to hold, and the next snapshot's values.

    Without a snapshot (a profile linked for the first time) Luminate's non-empty values apply and an
    empty Luminate value never blanks the profile. A field changed only on the platform is kept, and its
    snapshot value too, so a later Luminate change to it is seen as a conflict.
    """
    changes: dict[str, tuple[str, str]] = {}
    held: dict[str, tuple[str, str]] = {}
    next_fields: dict[str, str] = {}
    for name in PROFILE_FIELDS:
        theirs = record.fields.get(name, "")
        ours = target.fields.get(name, "")
        if snapshot is None:
            next_fields[name] = theirs
            if theirs and theirs != ours:
                changes[name] = (ours, theirs)
            continue
        before = snapshot.fields.get(name, "")
        luminate_changed = theirs != before
        platform_changed = ours != before
        if theirs == ours or not luminate_changed:
            next_fields[name] = theirs if theirs == ours else before
            continue
        if not platform_changed or _luminate_wins(rules, record, target):
            changes[name] = (ours, theirs)
            next_fields[name] = theirs
        elif rules.conflict_policy == "hold":
            held[name] = (ours, theirs)
            next_fields[name] = before
        else:
            next_fields[name] = theirs
    return changes, held, next_fields


def _luminate_wins(rules: Rules, record: Incoming, target: Existing) -> bool:
    if rules.conflict_policy == "luminate_wins":
        return True
    if rules.conflict_policy == "newest_wins":
        if record.modified_at is None or target.updated_at is None:
            return False
        return record.modified_at > target.updated_at
    return False


def _subscribe(decision: Decision, path_for: Callable[[], PathChoice | None]) -> str:
    """Rows 14–16 and 20: choose the path (only now, so groups are read only for records to subscribe)."""
    path = path_for()
    if path is None:
        return "Not subscribed: no group mapping matched and there is no default opt-in path."
    decision.subscribe_path = path
    if path.requires_confirmation:
        decision.category = Category.DEFERRED_SUBSCRIPTION
        return f"Subscription through {path.name!r} awaits the person's YES."
    return f"Subscribed through {path.name!r}."


def _moved(decision: Decision, record: Incoming, moved_from: Existing | None) -> None:
    if moved_from is None:
        return
    decision.unlink_profile_id = moved_from.profile_id
    decision.withdraw_profile_id = moved_from.profile_id
    decision.reason = (
        f"Mobile number changed in Luminate from {moved_from.phone} to {record.phone}: {LINK_MOVED}. "
        + decision.reason
    ).strip()
