"""The simulated site's records.

Seeded constituents are not stored: each is derived on demand from (seed, index), so a site of a million
records costs nothing until a record is written, at which point it is materialised into a dict.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
from array import array
from datetime import UTC, date, datetime, timedelta

from .clock import Clock
from .config import SimulatorConfig
from .fields import US_STATES, FieldDef, site_fields

FIRST_CONS_ID = 1_000_101
_MASK = (1 << 64) - 1

_FIRST = (
    ("Jane", "jane"),
    ("John", "john"),
    ("María", "maria"),
    ("Zoë", "zoe"),
    ("Ahmed", "ahmed"),
    ("Priya", "priya"),
    ("Wei", "wei"),
    ("Olusegun", "olusegun"),
    ("Chloé", "chloe"),
    ("Liam", "liam"),
    ("Sofia", "sofia"),
    ("Noah", "noah"),
    ("Aisha", "aisha"),
    ("Mateo", "mateo"),
    ("Emma", "emma"),
    ("Kwame", "kwame"),
    ("Hannah", "hannah"),
    ("José", "jose"),
    ("Yuki", "yuki"),
    ("Grace", "grace"),
)
_LAST = (
    ("Smith", "smith"),
    ("O'Neil", "oneil"),
    ("García", "garcia"),
    ("Nguyen", "nguyen"),
    ("Johnson", "johnson"),
    ("Müller", "muller"),
    ("Okafor", "okafor"),
    ("Patel", "patel"),
    ("Kim", "kim"),
    ("Brown", "brown"),
    ("Rossi", "rossi"),
    ("Cohen", "cohen"),
    ("Williams", "williams"),
    ("Dubois", "dubois"),
    ("Lee", "lee"),
    ("Martínez", "martinez"),
    ("Anderson", "anderson"),
    ("Singh", "singh"),
    ("Taylor", "taylor"),
    ("Fitzgerald-Hughes", "fitzgeraldhughes"),
)
_DOMAINS = ("example.org", "example.com", "example.net", "mail.example.org")
# Area codes with their city and state; every (area code, exchange) used is a valid US number.
_PLACES = (
    ("202", "Washington", "DC", "20001"),
    ("212", "New York", "NY", "10001"),
    ("312", "Chicago", "IL", "60601"),
    ("415", "San Francisco", "CA", "94103"),
    ("617", "Boston", "MA", "02108"),
    ("713", "Houston", "TX", "77002"),
    ("305", "Miami", "FL", "33101"),
    ("404", "Atlanta", "GA", "30303"),
    ("206", "Seattle", "WA", "98101"),
    ("503", "Portland", "OR", "97201"),
    ("303", "Denver", "CO", "80202"),
    ("612", "Minneapolis", "MN", "55401"),
    ("512", "Austin", "TX", "78701"),
    ("602", "Phoenix", "AZ", "85003"),
    ("919", "Raleigh", "NC", "27601"),
    ("615", "Nashville", "TN", "37201"),
    ("412", "Pittsburgh", "PA", "15222"),
    ("801", "Salt Lake City", "UT", "84101"),
)
_STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Park Pl", "Washington Blvd", "Lake Rd")

# (id, name, selection mode, built in, share of seeded constituents in it)
_SEED_GROUPS = (
    (1000, "API Administrators", "ADMIN_SECURITY", True, 0.0),
    (1001, "SMS Subscribers", "NOT_BUILT_IN", False, -1.0),  # the opted-in mobile holders
    (1002, "Volunteers", "NOT_BUILT_IN", False, 0.15),
    (1003, "Monthly Donors", "NOT_BUILT_IN", False, 0.10),
    (1004, "Newsletter", "EMAIL", False, 0.40),
    (1005, "Event Attendees", "NOT_BUILT_IN", False, 0.20),
    (1006, "Advocates", "NOT_BUILT_IN", False, 0.25),
    (1007, "Board", "NOT_BUILT_IN", False, 0.002),
)
_SEED_CENTERS = ((2001, "National", 0.10), (2002, "Northeast", 0.10))
_SEED_ALERTS = (
    ("4001", "Call your Senator about SNAP", "call", "active"),
    ("4002", "Support the Clean Water Act", "action", "active"),
    ("4003", "Write to the editor", "lte", "active"),
    ("4004", "Call the Governor (closed)", "call", "archived"),
)
_DONATION_FORMS = (("3001", ("1101", "1102", "1103")), ("3002", ("1201", "1202")))

_GEN_EMAIL = re.compile(r"(\d{7,})@")
_GEN_MEMBER = re.compile(r"^M-(\d{7,})$")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0", ""}


class FieldError(ValueError):
    """A field value the site would reject; carries the Luminate error code to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class _Stream:
    __slots__ = ("x",)

    def __init__(self, x: int) -> None:
        self.x = x

    def next(self) -> int:
        self.x = _mix(self.x)
        return self.x

    def pick(self, seq):
        return seq[self.next() % len(seq)]

    def chance(self, share: float) -> bool:
        return (self.next() & 0xFFFFFFFF) < share * 4294967296.0


def parse_bool(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FieldError(22, f"Invalid boolean value {value!r} for {where}.")


def parse_id_list(value, where: str) -> list[int]:
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = [part for part in str(value).split(",")]
    ids = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        if not item.isdigit():
            raise FieldError(22, f"Invalid id {item!r} in {where}.")
        ids.append(int(item))
    return ids


class State:
    """Constituents, groups, centers, interactions and advocacy actions of one site."""

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.fields: tuple[FieldDef, ...] = site_fields(config.custom_boolean_ids, config.opt_in_field)
        self.field_map = {f.name: f for f in self.fields}
        self._seed_key = _mix(config.seed * 0x100000001B3 + 0x5151)
        self._generated = config.constituents
        self._records: dict[int, dict] = {}
        self._deleted: set[int] = set()
        self._added: list[int] = []
        self._next_id = FIRST_CONS_ID + self._generated
        self._email_index: dict[str, set[int]] = {}
        self._member_index: dict[str, set[int]] = {}
        self._interactions: dict[int, list[dict]] = {}
        self._actions: dict[int, list[dict]] = {}
        self._next_interaction = 7_000_001
        self._next_action = 9_000_001
        self._group_cache: dict[int, array] = {}
        self.groups: dict[int, dict] = {}
        for gid, name, mode, built_in, share in _SEED_GROUPS:
            self.groups[gid] = {
                "id": gid,
                "name": name,
                "mode": mode,
                "built_in": built_in,
                "share": share,
                "description": f"{name} (seeded)",
                "created": clock.start - timedelta(days=900),
            }
        self._next_group = 1100
        self.centers = {cid: {"id": cid, "name": name, "share": share} for cid, name, share in _SEED_CENTERS}
        self.alerts = {aid: {"id": aid, "title": t, "type": k, "status": s} for aid, t, k, s in _SEED_ALERTS}
        self._window_seconds = 30 * 86400
        # Reads of unwritten seeded records share cached copies; writes materialise a fresh one.
        self._generate_cached = functools.lru_cache(maxsize=8192)(self._generate)

    # ----- seeded records -------------------------------------------------

    def _h0(self, index: int) -> int:
        return _mix(self._seed_key ^ (index * 0xD1B54A32D192ED03 & _MASK))

    def _gen_flags(self, index: int) -> tuple[int, bool, bool]:
        """(modify offset seconds, has mobile, opted in): cheap enough to scan a million records."""
        h0 = self._h0(index)
        offset = h0 % self._window_seconds
        mobile = ((h0 >> 32) & 0xFFFF) < self.config.mobile_share * 65536
        opt_in = mobile and ((h0 >> 48) & 0xFFFF) < self.config.opt_in_share * 65536
        return offset, mobile, opt_in

    def _seeded_member(self, h0: int, key: int, share: float, opt_in: bool) -> bool:
        """One independent draw per (record, group or center), so scanning one group is two hashes a record."""
        if share < 0:
            return opt_in
        return (
            share > 0 and (_mix(h0 ^ (key * 0x9FB21C651E98DF25 & _MASK)) & 0xFFFFFFFF) < share * 4294967296.0
        )

    def _gen_memberships(self, index: int, opt_in: bool) -> tuple[list[int], list[int]]:
        h0 = self._h0(index)
        groups = [
            g for g, v in self.groups.items() if self._seeded_member(h0, g, v.get("share", 0.0), opt_in)
        ]
        centers = [c for c, v in self.centers.items() if self._seeded_member(h0, c, v["share"], False)]
        return groups, centers

    def _generate(self, index: int) -> dict:
        cons_id = FIRST_CONS_ID + index
        offset, mobile, opt_in = self._gen_flags(index)
        s = _Stream(self._h0(index))
        first, first_ascii = s.pick(_FIRST)
        last, last_ascii = s.pick(_LAST)
        area, city, state, zip_code = s.pick(_PLACES)
        no_email = s.chance(self.config.no_email_share)
        email = None if no_email else f"{first_ascii}.{last_ascii}{cons_id}@{s.pick(_DOMAINS)}"
        modify = self.clock.start - timedelta(seconds=offset)
        created = modify - timedelta(seconds=s.next() % (3 * 365 * 86400))
        phone = None
        if mobile:
            exchange = 200 + s.next() % 800
            if exchange % 100 == 11 or exchange in (555, 950, 958, 959, 976):
                exchange = 234
            phone = f"{area}{exchange}{s.next() % 10000:04d}"
        groups, centers = self._gen_memberships(index, opt_in)
        record = {
            "cons_id": str(cons_id),
            "member_id": f"M-{cons_id}" if s.chance(0.8) else None,
            "user_name": "",
            "primary_email": email,
            "email.accepts_email": s.chance(0.85),
            "name.title": s.pick((None, None, "Mr.", "Ms.", "Dr.")),
            "name.first": first,
            "name.middle": None,
            "name.last": last,
            "name.suffix": None,
            "primary_address.street1": f"{1 + s.next() % 9899} {s.pick(_STREETS)}",
            "primary_address.street2": s.pick(("", "", "", f"Apt {1 + s.next() % 40}")),
            "primary_address.city": city,
            "primary_address.state": state,
            "primary_address.zip": zip_code,
            "primary_address.country": "United States",
            "mobile_phone": phone,
            "home_phone": None,
            "birth_date": date(1940, 1, 1) + timedelta(days=s.next() % 22000) if s.chance(0.5) else None,
            "gender": s.pick((None, "Male", "Female", "Other")),
            "accepts_postal_mail": s.chance(0.6),
            "custom_string1": None,
            "creation_time": created,
            "modify_time": modify,
            "active": 1,
            "active_detail": 2,
            "origin": s.pick((1, 2, 35)),
            "donor_status": 1,
            "source": "",
            "sub_source": "",
            "group_ids": groups,
            "center_ids": centers,
            "donation": None,
        }
        for n in self.config.custom_boolean_ids:
            record[f"custom_boolean{n}"] = False
        record[self.config.opt_in_field] = opt_in
        if s.chance(0.15):
            form_id, levels = s.pick(_DONATION_FORMS)
            record["donor_status"] = 2
            record["donation"] = {
                "form_id": form_id,
                "level_id": s.pick(levels),
                "transaction_id": str(100_000_000 + s.next() % 900_000_000),
                "confirmation_code": f"{1000 + s.next() % 9000}-{1000 + s.next() % 9000}-{s.next() % 10}",
                "amount": f"{s.pick((10, 25, 50, 100, 250))}.00",
                "donor_email": email,
                "billing.street1": record["primary_address.street1"],
                "billing.city": city,
                "billing.state": state,
                "billing.zip": zip_code,
            }
        return record

    def _index_of(self, cons_id: int) -> int | None:
        index = cons_id - FIRST_CONS_ID
        if 0 <= index < self._generated:
            return index
        return None

    # ----- access ---------------------------------------------------------

    def _peek(self, cons_id: int) -> dict | None:
        """The current record, without materialising it; None when absent or deleted."""
        if cons_id in self._deleted:
            return None
        record = self._records.get(cons_id)
        if record is not None:
            return record
        index = self._index_of(cons_id)
        return None if index is None else self._generate_cached(index)

    def _materialise(self, cons_id: int) -> dict | None:
        if cons_id in self._deleted:
            return None
        record = self._records.get(cons_id)
        if record is None:
            index = self._index_of(cons_id)
            if index is None:
                return None
            record = self._generate(index)
            self._records[cons_id] = record
            self._index(record, cons_id)
        return record

    def _index(self, record: dict, cons_id: int) -> None:
        if record.get("primary_email"):
            self._email_index.setdefault(record["primary_email"], set()).add(cons_id)
        if record.get("member_id"):
            self._member_index.setdefault(record["member_id"], set()).add(cons_id)

    def _unindex(self, record: dict, cons_id: int) -> None:
        for index, key in ((self._email_index, "primary_email"), (self._member_index, "member_id")):
            value = record.get(key)
            if value and value in index:
                index[value].discard(cons_id)
                if not index[value]:
                    del index[value]

    def lookup(self, cons_id: str) -> dict | None:
        with self.lock:
            if not str(cons_id).isdigit():
                return None
            return self._peek(int(cons_id))

    def _find(self, value: str, index: dict[str, set[int]], pattern: re.Pattern, key: str) -> list[int]:
        found = set(index.get(value, ()))
        match = pattern.search(value)
        if match:
            cons_id = int(match.group(1))
            idx = self._index_of(cons_id)
            live = idx is not None and cons_id not in self._records and cons_id not in self._deleted
            if live and self._generate(idx)[key] == value:
                found.add(cons_id)
        return sorted(found)

    def find_ids_by_email(self, email: str) -> list[int]:
        with self.lock:
            return self._find(email.strip().lower(), self._email_index, _GEN_EMAIL, "primary_email")

    def find_ids_by_member(self, member_id: str) -> list[int]:
        with self.lock:
            return self._find(member_id.strip(), self._member_index, _GEN_MEMBER, "member_id")

    def all_ids(self):
        """Every live cons_id in increasing order (a generator; take the lock around its use)."""
        for index in range(self._generated):
            cons_id = FIRST_CONS_ID + index
            if cons_id not in self._deleted:
                yield cons_id
        for cons_id in self._added:
            if cons_id not in self._deleted:
                yield cons_id

    def count(self) -> int:
        with self.lock:
            generated_deleted = sum(1 for c in self._deleted if self._index_of(c) is not None)
            return self._generated - generated_deleted + sum(1 for c in self._added if c not in self._deleted)

    def scan(self, since: datetime | None, until: datetime | None, mobile_only: bool, opt_in_only: bool):
        """Records whose modify_time is in [since, until), filtered cheaply before generation."""
        opt_in_field = self.config.opt_in_field
        with self.lock:
            start = self.clock.start
            for cons_id in list(self.all_ids()):
                record = self._records.get(cons_id)
                if record is None:
                    offset, mobile, opt_in = self._gen_flags(cons_id - FIRST_CONS_ID)
                    modify = start - timedelta(seconds=offset)
                    if (since is not None and modify < since) or (until is not None and modify >= until):
                        continue
                    if (mobile_only and not mobile) or (opt_in_only and not opt_in):
                        continue
                    record = self._generate(cons_id - FIRST_CONS_ID)
                else:
                    modify = record["modify_time"]
                    if (since is not None and modify < since) or (until is not None and modify >= until):
                        continue
                    if mobile_only and not record.get("mobile_phone"):
                        continue
                    if opt_in_only and not record.get(opt_in_field):
                        continue
                yield record

    # ----- writes -----------------------------------------------------------

    def coerce(self, name: str, value, where: str):
        """Validate one field value as the site would; `where` names the record for messages."""
        definition = self.field_map.get(name)
        if definition is None:
            raise FieldError(22, f"Unknown field {name!r} for {where}.")
        if definition.name == "cons_id":
            raise FieldError(22, f"Field cons_id cannot be changed for {where}.")
        if value is None:
            return None
        if definition.value_type == "BOOLEAN":
            return parse_bool(value, f"{name} of {where}")
        if definition.value_type == "DATE":
            if isinstance(value, date):
                return value
            text = str(value).strip()
            if not text:
                return None
            try:
                return date.fromisoformat(text[:10])
            except ValueError:
                raise FieldError(22, f"Invalid date {value!r} for {name} of {where}.") from None
        text = str(value)
        if definition.max_chars is not None and len(text) > definition.max_chars:
            raise FieldError(
                23,
                f"Value of {name} for {where} is {len(text)} characters; the limit is {definition.max_chars}.",
            )
        if name == "primary_email":
            text = text.strip().lower()
            if text and ("@" not in text or " " in text):
                raise FieldError(22, f"Invalid email address {value!r} for {where}.")
            return text or None
        if (
            definition.value_type == "ENUMERATION"
            and text
            and definition.choices
            and text not in definition.choices
        ):
            if name == "primary_address.state" and text.upper() in US_STATES:
                return text.upper()
            raise FieldError(22, f"Value {value!r} of {name} for {where} is not one of the field's choices.")
        return text

    def _apply(self, record: dict, cons_id: int, fields: dict, where: str) -> None:
        changes = {}
        groups = list(record["group_ids"])
        centers = list(record["center_ids"])
        for name, value in fields.items():
            if name in ("group_ids", "center_ids"):
                ids = parse_id_list(value, f"{name} of {where}")
                self._check_ids(name, ids, where)
                if name == "group_ids":
                    groups = ids
                else:
                    centers = ids
            elif name in ("add_group_ids", "remove_group_ids", "add_center_ids", "remove_center_ids"):
                ids = parse_id_list(value, f"{name} of {where}")
                kind = "group_ids" if "group" in name else "center_ids"
                self._check_ids(kind, ids, where)
                target = groups if kind == "group_ids" else centers
                for i in ids:
                    if name.startswith("add_") and i not in target:
                        target.append(i)
                    elif name.startswith("remove_") and i in target:
                        target.remove(i)
            elif name in ("source", "sub_source"):
                changes[name] = str(value)
            else:
                changes[name] = self.coerce(name, value, where)
        self._unindex(record, cons_id)
        record.update(changes)
        self._sync_group_cache(cons_id, record["group_ids"], groups)
        record["group_ids"] = groups
        record["center_ids"] = centers
        self._index(record, cons_id)

    def _sync_group_cache(self, cons_id: int, old: list[int], new: list[int]) -> None:
        """Keep cached member lists right without rescanning a large site."""
        for gid, members in self._group_cache.items():
            was, now = gid in old, gid in new
            if was == now:
                continue
            pos = bisect.bisect_left(members, cons_id)
            present = pos < len(members) and members[pos] == cons_id
            if now and not present:
                members.insert(pos, cons_id)
            elif was and present:
                del members[pos]

    def _check_ids(self, kind: str, ids: list[int], where: str) -> None:
        known = self.groups if kind == "group_ids" else self.centers
        for i in ids:
            if i not in known:
                raise FieldError(22, f"Unknown {kind[:-4]} id {i} in {kind} of {where}.")

    def touch(self, record: dict) -> None:
        now = self.clock.now()
        # Two writes in one clock tick must still order by modify_time.
        if now <= record["modify_time"]:
            now = record["modify_time"] + timedelta(microseconds=1)
        record["modify_time"] = now

    def create(self, fields: dict, defaults: dict) -> dict:
        with self.lock:
            cons_id = self._next_id
            where = f"new constituent {cons_id}"
            now = self.clock.now()
            record = {
                "cons_id": str(cons_id),
                "member_id": None,
                "user_name": "",
                "primary_email": None,
                "email.accepts_email": False,
                "name.title": None,
                "name.first": None,
                "name.middle": None,
                "name.last": None,
                "name.suffix": None,
                "primary_address.street1": None,
                "primary_address.street2": None,
                "primary_address.city": None,
                "primary_address.state": None,
                "primary_address.zip": None,
                "primary_address.country": None,
                "mobile_phone": None,
                "home_phone": None,
                "birth_date": None,
                "gender": None,
                "accepts_postal_mail": False,
                "custom_string1": None,
                "creation_time": now,
                "modify_time": now,
                "source": "",
                "sub_source": "",
                "group_ids": [],
                "center_ids": [],
                "donation": None,
            }
            for n in self.config.custom_boolean_ids:
                record[f"custom_boolean{n}"] = False
            record.update(defaults)
            self._apply(record, cons_id, fields, where)
            self._next_id += 1
            self._records[cons_id] = record
            self._added.append(cons_id)
            return record

    def write(self, cons_id: int, fields: dict) -> dict:
        with self.lock:
            record = self._materialise(cons_id)
            if record is None:
                raise KeyError(cons_id)
            self._apply(record, cons_id, fields, f"constituent {cons_id}")
            self.touch(record)
            return record

    def log_interaction(self, cons_id: int, **values) -> dict:
        with self.lock:
            entry = {
                "interaction_id": str(self._next_interaction),
                "cons_id": str(cons_id),
                "subject": values.get("subject", ""),
                "body": values.get("body", ""),
                "cat_id": str(values.get("cat_id", "0")),
                "type_id": str(values.get("type_id", "0")),
                "count": str(values.get("count", "1")),
                "timestamp": self.clock.now(),
                "method": values.get("method", ""),
                "login_name": values.get("login_name", ""),
                "ip": values.get("ip", ""),
            }
            self._next_interaction += 1
            self._interactions.setdefault(cons_id, []).append(entry)
            return entry

    def record_action(self, cons_id: int, values: dict) -> dict:
        with self.lock:
            entry = {
                "action_id": str(self._next_action),
                "cons_id": str(cons_id),
                "timestamp": self.clock.now(),
            }
            entry.update(values)
            self._next_action += 1
            self._actions.setdefault(cons_id, []).append(entry)
            return entry

    def interaction_list(self, cons_id: int) -> list[dict]:
        with self.lock:
            return [dict(i) for i in self._interactions.get(cons_id, ())]

    def group_member_ids(self, group_id: int) -> list[int]:
        with self.lock:
            cached = self._group_cache.get(group_id)
            if cached is None:
                cached = array("I")
                group = self.groups[group_id]
                share = group.get("share", 0.0)
                seeded = share != 0.0
                for cons_id in self.all_ids():
                    record = self._records.get(cons_id)
                    if record is not None:
                        if group_id in record["group_ids"]:
                            cached.append(cons_id)
                    elif seeded:
                        index = cons_id - FIRST_CONS_ID
                        opt_in = share < 0 and self._gen_flags(index)[2]
                        if self._seeded_member(self._h0(index), group_id, share, opt_in):
                            cached.append(cons_id)
                self._group_cache[group_id] = cached
            return list(cached)

    # ----- the harness contract (staff edits) --------------------------------

    def add_constituent(self, **fields) -> str:
        """Add a record as Luminate staff would; bypasses the API's duplicate-email policy."""
        fields = dict(fields)
        defaults = {"active": 1, "active_detail": 2, "origin": 1, "donor_status": 1}
        for key in ("active", "active_detail", "origin", "donor_status"):
            if key in fields:
                defaults[key] = int(fields.pop(key))
        return self.create(fields, defaults)["cons_id"]

    def get_constituent(self, cons_id: str) -> dict:
        with self.lock:
            record = self.lookup(str(cons_id))
            if record is None:
                raise KeyError(f"constituent {cons_id} not found")
            copy = dict(record)
            copy["group_ids"] = [str(g) for g in record["group_ids"]]
            copy["center_ids"] = [str(c) for c in record["center_ids"]]
            copy["donation"] = dict(record["donation"]) if record.get("donation") else None
            return copy

    def update_constituent(self, cons_id: str, **fields) -> None:
        with self.lock:
            fields = dict(fields)
            extra = {
                k: int(fields.pop(k))
                for k in ("active", "active_detail", "origin", "donor_status")
                if k in fields
            }
            try:
                record = self.write(int(cons_id), fields)
            except (KeyError, ValueError):
                if self.lookup(str(cons_id)) is None:
                    raise KeyError(f"constituent {cons_id} not found") from None
                raise
            record.update(extra)

    def delete_constituent(self, cons_id: str) -> None:
        with self.lock:
            record = self._materialise(int(cons_id)) if str(cons_id).isdigit() else None
            if record is None:
                raise KeyError(f"constituent {cons_id} not found")
            self._unindex(record, int(cons_id))
            self._sync_group_cache(int(cons_id), record["group_ids"], [])
            self._deleted.add(int(cons_id))
            self._records.pop(int(cons_id), None)

    def add_group(self, name: str, description: str = "", mode: str = "NOT_BUILT_IN") -> str:
        with self.lock:
            gid = self._next_group
            self._next_group += 1
            self.groups[gid] = {
                "id": gid,
                "name": name,
                "mode": mode,
                "built_in": False,
                "share": 0.0,
                "description": description,
                "created": self.clock.now(),
            }
            return str(gid)

    def find_by_email(self, email: str) -> list[str]:
        return [str(c) for c in self.find_ids_by_email(email)]

    def interactions(self, cons_id: str) -> list[dict]:
        return self.interaction_list(int(cons_id))

    def actions(self, cons_id: str) -> list[dict]:
        with self.lock:
            return [dict(a) for a in self._actions.get(int(cons_id), ())]

    def seeded_ids(self, limit: int | None = None) -> list[str]:
        """cons_ids of seeded records, for tests and demos that need known ids."""
        n = self._generated if limit is None else min(limit, self._generated)
        return [str(FIRST_CONS_ID + i) for i in range(n)]


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
