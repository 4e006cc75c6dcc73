"""The Luminate Online server APIs: routing, the access checks in Luminate's order, and the methods."""

from __future__ import annotations

import hmac
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

from .config import SimulatorConfig
from .render import Renderer
from .state import FieldError, State, parse_bool

_PATH = re.compile(r"^/(?:(?P<org>[^/;]+)/)?site/(?P<servlet>[^/;]+)(?:;jsessionid=[^/?]*)?$")
GET_METHODS = {"listUserFields", "getUserCenters", "listGroups", "getGroupInfo", "getAdvocacyAlerts"}
SERVLETS = {
    "SRConsAPI": {
        "getUser",
        "create",
        "update",
        "createOrUpdate",
        "listUserFields",
        "getUserGroups",
        "getUserCenters",
        "getUserInteractions",
        "logInteraction",
        "getGroupMembers",
    },
    "SRGroupAPI": {"listGroups", "getGroupInfo"},
    "SRAdvocacyAPI": {"takeAction", "getAdvocacyAlerts"},
}
MESSAGES = {
    1: "Unable to process request.",
    2: "Incorrect API key.",
    3: "Authorization failed.",
    4: "Request not allowed from source IP.",
    5: "Method restricted; an auth token is required.",
    6: "No method specified, or the method is invalid.",
    8: "The request matched multiple constituent records.",
    9: "Required parameter(s) missing.",
    10: "Required constituent field(s) missing.",
    11: "Add failed: a constituent with this email address already exists.",
    13: "Update failed: this email address is in use by another constituent.",
    15: "Update failed: the request matched multiple constituent records.",
    16: "Constituent record not found.",
    19: "Error returning group membership.",
    22: "Validation error.",
    23: "Input size error.",
    30: "Interaction body too large.",
    50: "Invalid list criteria.",
}
SELECTION_MODES = {
    "EMAIL",
    "ADMIN_SECURITY",
    "MEMBERSHIP",
    "HEIRARCHY",
    "NOT_BUILT_IN",
    "REPORTWRITER_SHAREES",
    "STATES",
}
MEMBER_FIELDS = {
    "first_name": "name.first",
    "last_name": "name.last",
    "home_street1": "primary_address.street1",
    "home_street2": "primary_address.street2",
    "home_street3": None,
    "home_city": "primary_address.city",
    "home_stateprov": "primary_address.state",
    "home_county": None,
    "home_zip": "primary_address.zip",
}
DEFAULT_MEMBER_FIELDS = (
    "cons_id",
    "member_id",
    "first_name",
    "last_name",
    "primary_email",
    "home_street1",
    "home_street2",
    "home_street3",
    "home_city",
    "home_stateprov",
    "home_county",
    "home_zip",
)
SECRET_PARAMS = {"login_password", "password", "api_key", "auth", "sso_auth_token", "JSESSIONID", "nonce"}


class ApiError(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or MESSAGES.get(code, "Error."))
        self.code = code
        self.message = message or MESSAGES.get(code, "Error.")


@dataclass
class Request:
    http_method: str
    path: str
    query: str = field(repr=False)
    body: bytes = field(repr=False)
    content_type: str
    client_ip: str
    headers: dict[str, str] = field(default_factory=dict)
    # When the request was read, by time.monotonic (the clock of asyncio's loops): latency counts from here.
    received_at: float | None = None


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "text/xml;charset=UTF-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Call:
    """A routed API request, before the checks run."""

    servlet: str
    method: str
    params: dict[str, str] = field(repr=False)
    json: bool
    suppress: bool
    client_ip: str


def redact(params: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k in SECRET_PARAMS else v) for k, v in params.items()}


def _html(status: int, title: str) -> Reply:
    body = f"<html><head><title>{status} {title}</title></head><body><h1>{title}</h1></body></html>"
    return Reply(status, body.encode(), "text/html;charset=UTF-8")


class Api:
    def __init__(self, config: SimulatorConfig, state: State, renderer: Renderer) -> None:
        self.config = config
        self.state = state
        self.renderer = renderer
        self.api_key = config.api_key
        self.logins = {config.login_name: (config.login_password, True), **config.extra_logins}
        self.set_allowed_cidrs(config.allowed_cidrs)
        self.duplicate_emails = config.duplicate_emails

    def set_allowed_cidrs(self, cidrs) -> None:
        self.allowed = [ipaddress.ip_network(c, strict=False) for c in cidrs]

    # ----- routing ---------------------------------------------------------

    def route(self, request: Request) -> Call | Reply:
        match = _PATH.match(request.path)
        if not match or (match["org"] is not None and match["org"] != self.config.org):
            return _html(404, "Not Found")
        servlet = match["servlet"]
        if servlet not in SERVLETS:
            return _html(404, "Not Found")
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        if request.body and (not request.content_type or "x-www-form-urlencoded" in request.content_type):
            params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        method = params.get("method", "")
        if request.http_method == "GET":
            if method not in GET_METHODS:
                return _html(405, "Bad Method")
        elif request.http_method != "POST":
            return _html(405, "Bad Method")
        return Call(
            servlet=servlet,
            method=method,
            params=params,
            json=params.get("response_format", "xml").lower() == "json",
            suppress=params.get("suppress_response_codes", "").lower() == "true",
            client_ip=request.client_ip,
        )

    def reply(self, call: Call, root: str, payload) -> Reply:
        if call.json:
            return Reply(200, self.renderer.json(root, payload), "application/json;charset=UTF-8")
        return Reply(200, self.renderer.xml(root, payload))

    def error(self, call: Call, code: int, message: str | None = None) -> Reply:
        reply = self.reply(
            call, "errorResponse", {"code": code, "message": message or MESSAGES.get(code, "Error.")}
        )
        reply.status = 200 if call.suppress else 403
        return reply

    def execute(self, call: Call) -> Reply:
        try:
            self._check_access(call)
            handler = getattr(self, "_m_" + call.method)
            root, payload = handler(call)
        except ApiError as err:
            return self.error(call, err.code, err.message)
        except FieldError as err:
            return self.error(call, err.code, str(err))
        return self.reply(call, root, payload)

    def _check_access(self, call: Call) -> None:
        p = call.params
        if call.method not in SERVLETS[call.servlet]:
            raise ApiError(6, f"No method specified, or the method is invalid: {call.method!r}.")
        if p.get("api_key") != self.api_key:
            raise ApiError(2)
        try:
            ip = ipaddress.ip_address(call.client_ip)
        except ValueError:
            raise ApiError(4) from None
        if not any(ip in net for net in self.allowed):
            raise ApiError(4, f"Request not allowed from source IP {call.client_ip}.")
        login = self.logins.get(p.get("login_name", ""))
        given = p.get("login_password", "").encode()
        if login is None or not hmac.compare_digest(login[0].encode(), given) or not login[1]:
            raise ApiError(3)
        if not p.get("v"):
            raise ApiError(9, "Required parameter(s) missing: v.")

    # ----- helpers --------------------------------------------------------

    def _resolve(self, p: dict[str, str], several: int) -> int:
        cons_id = p.get("cons_id", "").strip()
        if cons_id:
            if not cons_id.isdigit() or self.state.lookup(cons_id) is None:
                raise ApiError(16, f"Constituent record not found: cons_id {cons_id}.")
            return int(cons_id)
        member_id = p.get("member_id", "").strip()
        email = p.get("primary_email", "").strip()
        if not member_id and not email:
            raise ApiError(9, "Required parameter(s) missing: cons_id, member_id or primary_email.")
        if member_id:
            ids = self.state.find_ids_by_member(member_id)
            if len(ids) > 1:
                raise ApiError(several)
            if ids:
                return ids[0]
        if email:
            ids = self.state.find_ids_by_email(email)
            if len(ids) > 1:
                raise ApiError(several)
            if ids:
                return ids[0]
        raise ApiError(16)

    def _write_fields(self, p: dict[str, str]) -> dict[str, str]:
        out = {}
        for key, value in p.items():
            if (
                key in self.state.field_map
                and key != "cons_id"
                or key in ("add_group_ids", "remove_group_ids", "add_center_ids", "remove_center_ids")
            ):
                out[key] = value
        return out

    @staticmethod
    def _interaction_args(p: dict[str, str], default_subject: str) -> dict[str, str]:
        subject = p.get("interaction_subject") or default_subject
        body = p.get("interaction_body", "")
        if len(subject) > 80:
            raise ApiError(30, f"interaction_subject is {len(subject)} characters; the limit is 80.")
        if len(body) > 1500:
            raise ApiError(30, f"interaction_body is {len(body)} characters; the limit is 1500.")
        return {
            "subject": subject,
            "body": body,
            "cat_id": p.get("interaction_cat_id", "0"),
            "type_id": p.get("interaction_type_id", "0"),
            "count": p.get("interaction_count", "1"),
        }

    def _log(self, call: Call, cons_id: int, args: dict) -> None:
        self.state.log_interaction(
            cons_id,
            method=call.method,
            login_name=call.params.get("login_name", ""),
            ip=call.client_ip,
            **args,
        )

    def _check_email_free(self, email: str | None, cons_id: int | None, code: int) -> None:
        if not email or self.duplicate_emails != "reject":
            return
        others = [c for c in self.state.find_ids_by_email(email) if c != cons_id]
        if others:
            raise ApiError(code)

    def _do_create(self, call: Call, response_root: str) -> tuple[str, dict]:
        p = call.params
        if not p.get("primary_email", "").strip():
            raise ApiError(10, "Required constituent field(s) missing: primary_email.")
        args = self._interaction_args(p, "Constituent created via API")
        fields = self._write_fields(p)
        fields = {
            ("group_ids" if k == "add_group_ids" else "center_ids" if k == "add_center_ids" else k): v
            for k, v in fields.items()
            if not k.startswith("remove_")
        }
        with self.state.lock:
            self._check_email_free(p["primary_email"], None, 11)
            welcome = not parse_bool(p.get("no_welcome", "false"), "no_welcome")
            defaults = {
                "origin": 35,
                "active": 1,
                "donor_status": 1,
                "active_detail": 2 if welcome else 1,
                "source": p.get("source", ""),
                "sub_source": p.get("sub_source", ""),
            }
            record = self.state.create(fields, defaults)
            self._log(call, int(record["cons_id"]), args)
        payload = {"cons_id": int(record["cons_id"])}
        if response_root == "createOrUpdateConsResponse":
            payload["message"] = "User created."
        return response_root, payload

    def _do_update(self, call: Call, cons_id: int, root: str) -> tuple[str, dict]:
        p = call.params
        args = self._interaction_args(p, "Profile updated via API")
        fields = self._write_fields(p)
        with self.state.lock:
            current = self.state.lookup(str(cons_id))
            new_email = fields.get("primary_email", "").strip().lower()
            if new_email and new_email != current.get("primary_email"):
                self._check_email_free(new_email, cons_id, 13)
            self.state.write(cons_id, fields)
            self._log(call, cons_id, args)
        return root, {"cons_id": cons_id, "message": "User updated."}

    # ----- SRConsAPI ------------------------------------------------------

    def _m_getUser(self, call: Call):
        record = self.state.lookup(str(self._resolve(call.params, 8)))
        wanted = [f.strip() for f in call.params.get("fields", "").split(",") if f.strip()]
        return "getConsResponse", self.user_tree(record, wanted)

    def user_tree(self, record: dict, wanted: list[str]) -> dict:
        def keep(name: str) -> bool:
            if not wanted:
                return True
            return any(name == w or name.startswith(w + ".") or w.startswith(name + ".") for w in wanted)

        grouping = self.renderer.quirks.custom_grouping
        tree: dict = {}
        custom: dict[str, list] = {}
        for f in self.state.fields:
            out_name = "email.primary_address" if f.name == "primary_email" else f.name
            if not (keep(f.name) or keep(out_name)):
                continue
            value = record.get(f.name)
            if f.name == "cons_id":
                value = int(value)
            if f.name.startswith("custom_"):
                if grouping:
                    kind = "boolean" if f.value_type == "BOOLEAN" else "string"
                    custom.setdefault(kind, []).append({"id": f.name, "content": value})
                else:
                    tree[f.name] = value
                continue
            node = tree
            *parents, leaf = out_name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        if custom:
            tree["custom"] = custom
        return tree

    def _m_create(self, call: Call):
        return self._do_create(call, "createConsResponse")

    def _m_update(self, call: Call):
        return self._do_update(call, self._resolve(call.params, 15), "updateConsResponse")

    def _m_createOrUpdate(self, call: Call):
        try:
            cons_id = self._resolve(call.params, 15)
        except ApiError as err:
            if err.code != 16 or call.params.get("cons_id", "").strip():
                raise
            return self._do_create(call, "createOrUpdateConsResponse")
        return self._do_update(call, cons_id, "createOrUpdateConsResponse")

    def _m_listUserFields(self, call: Call):
        p = call.params
        access = p.get("access", "view")
        if access not in ("view", "update"):
            raise ApiError(22, f"Invalid access {access!r}; use view or update.")
        choices = p.get("include_choices", "false").lower() == "true"
        fields = [f for f in self.state.fields if access == "view" or f.updatable]
        if p.get("sort_order", "field") == "group":
            fields.sort(key=lambda f: (f.group, f.name))
        else:
            fields.sort(key=lambda f: f.name)
        out = []
        for f in fields:
            item = {"name": f.name, "label": f.label, "valueType": f.value_type}
            if f.max_chars is not None:
                item["maxChars"] = f.max_chars
            item["required"] = f.required
            item["isUserModifiable"] = f.updatable
            item["group"] = f.group
            if choices and f.choices:
                item["choices"] = {"choice": list(f.choices)}
            out.append(item)
        return "listConsFieldsResponse", {"field": out}

    def _m_getUserGroups(self, call: Call):
        record = self.state.lookup(str(self._resolve(call.params, 8)))
        groups = [
            {"id": g, "label": self.state.groups[g]["name"]}
            for g in record["group_ids"]
            if g in self.state.groups
        ]
        return "getConsGroupsResponse", {"group": groups}

    def _m_getUserCenters(self, call: Call):
        try:
            record = self.state.lookup(str(self._resolve(call.params, 8)))
        except ApiError as err:
            if err.code in (8, 16):
                return "getConsCentersResponse", {"center": []}
            raise
        centers = [{"id": c, "name": self.state.centers[c]["name"]} for c in record["center_ids"]]
        return "getConsCentersResponse", {"center": centers}

    def _page(self, p: dict[str, str], default_size: int = 25) -> tuple[int, int]:
        try:
            size = int(p.get("list_page_size", default_size))
            offset = int(p.get("list_page_offset", 0))
        except ValueError:
            raise ApiError(50, "list_page_size and list_page_offset must be integers.") from None
        if size < 1 or offset < 0:
            raise ApiError(50, "list_page_size must be >= 1 and list_page_offset >= 0.")
        return size, offset

    def _m_getUserInteractions(self, call: Call):
        p = call.params
        cons_id = self._resolve(p, 8)
        size, offset = self._page(p)
        items = self.state.interaction_list(cons_id)
        subject = p.get("interaction_subject")
        if subject:
            items = [i for i in items if i["subject"] == subject]
        if p.get("interaction_type_id"):
            items = [i for i in items if i["type_id"] == p["interaction_type_id"]]
        for key, keep in (("begin_date", lambda t, d: t >= d), ("end_date", lambda t, d: t <= d)):
            if p.get(key):
                try:
                    bound = datetime.fromisoformat(p[key])
                except ValueError:
                    raise ApiError(25, f"Invalid {key} {p[key]!r}; use ISO 8601.") from None
                if bound.tzinfo is None:
                    bound = bound.replace(tzinfo=self.renderer.tz)
                items = [i for i in items if keep(i["timestamp"], bound)]
        if p.get("list_ascending", "true").lower() == "false":
            items.reverse()
        page = items[offset * size : offset * size + size]
        out = [
            {
                "interactionId": int(i["interaction_id"]),
                "interactionTypeId": i["type_id"],
                "interactionCatId": i["cat_id"],
                "subject": i["subject"],
                "note": {"text": i["body"]},
                "count": i["count"],
                "dateCreated": i["timestamp"],
            }
            for i in page
        ]
        return "getUserInteractionsResponse", {"interaction": out}

    def _m_logInteraction(self, call: Call):
        p = call.params
        if not p.get("interaction_subject"):
            raise ApiError(9, "Required parameter(s) missing: interaction_subject.")
        args = self._interaction_args(p, "")
        cons_id = self._resolve(p, 8)
        self._log(call, cons_id, args)
        return "updateConsResponse", {"message": "Interaction logged successfully."}

    def _group_id(self, p: dict[str, str]) -> int:
        raw = p.get("group_id", "").strip()
        if not raw:
            raise ApiError(9, "Required parameter(s) missing: group_id.")
        if not raw.isdigit() or int(raw) not in self.state.groups:
            raise ApiError(22, f"Invalid group_id {raw!r}: no such group.")
        return int(raw)

    def _m_getGroupMembers(self, call: Call):
        p = call.params
        group_id = self._group_id(p)
        try:
            max_number = min(int(p.get("max_number", 1000)), 1000)
        except ValueError:
            raise ApiError(22, f"Invalid max_number {p['max_number']!r}.") from None
        wanted = [f.strip() for f in p.get("fields", "").split(",") if f.strip()] or list(
            DEFAULT_MEMBER_FIELDS
        )
        ids = self.state.group_member_ids(group_id)
        members = []
        for cons_id in ids[: max(max_number, 0)]:
            record = self.state.lookup(str(cons_id))
            member = {}
            for name in wanted:
                source = MEMBER_FIELDS.get(name, name)
                if source is None:
                    member[name] = None
                elif source in record and source not in ("group_ids", "center_ids", "donation"):
                    member[name] = int(record[source]) if source == "cons_id" else record[source]
            members.append(member)
        return "getGroupMembersResponse", {"total_number": len(ids), "member": members}

    # ----- SRGroupAPI -----------------------------------------------------

    def _group_info(self, gid: int, counts: bool) -> dict:
        g = self.state.groups[gid]
        info = {
            "id": gid,
            "name": g["name"],
            "description": g["description"],
            "groupMode": "STATIC_REBUILDABLE" if not g["built_in"] else "STATIC",
            "securityMode": "PUBLIC",
        }
        if counts:
            n = len(self.state.group_member_ids(gid))
            info.update(
                {
                    "numMembers": n,
                    "numActiveMembers": n,
                    "createdTimestamp": g["created"],
                    "groupType": {
                        "id": 1 if g["built_in"] else 0,
                        "name": "Built-in" if g["built_in"] else "Custom",
                    },
                    "securityCategory": {"id": 0, "label": "Default"},
                    "emailStats": {
                        "numOptedOut": 0,
                        "numSendable": n,
                        "numSoftBounce": 0,
                        "numHardBounce": 0,
                    },
                }
            )
        return info

    def _m_listGroups(self, call: Call):
        p = call.params
        mode = p.get("selection_mode", "NOT_BUILT_IN")
        if mode not in SELECTION_MODES:
            raise ApiError(50, f"Invalid selection_mode {mode!r}.")
        size, offset = self._page(p)
        if mode == "NOT_BUILT_IN":
            gids = [g for g, v in self.state.groups.items() if not v["built_in"]]
        else:
            gids = [g for g, v in self.state.groups.items() if v["mode"] == mode]
        page = gids[offset * size : offset * size + size]
        return "listGroupsResponse", {
            "totalNumberResults": len(gids),
            "groupInfo": [self._group_info(g, False) for g in page],
        }

    def _m_getGroupInfo(self, call: Call):
        return "getGroupInfoResponse", {"groupInfo": self._group_info(self._group_id(call.params), True)}

    # ----- SRAdvocacyAPI --------------------------------------------------

    def _m_getAdvocacyAlerts(self, call: Call):
        p = call.params
        alerts = list(self.state.alerts.values())
        if p.get("alert_status"):
            alerts = [a for a in alerts if a["status"] == p["alert_status"]]
        if p.get("alert_type"):
            alerts = [a for a in alerts if a["type"] == p["alert_type"]]
        out = [
            {"alertId": int(a["id"]), "title": a["title"], "alertType": a["type"], "status": a["status"]}
            for a in alerts
        ]
        return "getAdvocacyAlertsResponse", {"alert": out}

    def _m_takeAction(self, call: Call):
        p = call.params
        missing = [k for k in ("alert_id", "alert_type", "cons_id") if not p.get(k, "").strip()]
        if missing:
            raise ApiError(9, f"Required parameter(s) missing: {', '.join(missing)}.")
        alert_type = p["alert_type"]
        if alert_type not in ("action", "call", "lte"):
            raise ApiError(22, f"Invalid alert_type {alert_type!r}; use action, call or lte.")
        alert = self.state.alerts.get(p["alert_id"].strip())
        if alert is None or alert["type"] != alert_type or alert["status"] != "active":
            raise ApiError(22, f"Invalid alert_id {p['alert_id']!r} for alert_type {alert_type}.")
        recipient = p.get("recipient", "all")
        if recipient not in ("all", "internet", "fax", "print", "call"):
            raise ApiError(22, f"Invalid recipient {recipient!r}.")
        cons_id = self._resolve({"cons_id": p["cons_id"]}, 8)
        called = parse_bool(p["called"], "called") if "called" in p else None
        for key, limit in (("note", 1500), ("contact_name", 100), ("contact_position", 100)):
            if len(p.get(key, "")) > limit:
                raise ApiError(23, f"{key} is {len(p[key])} characters; the limit is {limit}.")
        payload = {"alert_id": int(alert["id"]), "cons_id": cons_id}
        if parse_bool(p.get("preview", "false"), "preview"):
            payload["preview"] = True
            payload["message"] = "Preview only; no action was taken."
            return "takeActionResponse", payload
        with self.state.lock:
            action = self.state.record_action(
                cons_id,
                {
                    "alert_id": alert["id"],
                    "alert_type": alert_type,
                    "recipient": recipient,
                    "called": called,
                    "contact_name": p.get("contact_name", ""),
                    "contact_position": p.get("contact_position", ""),
                    "note": p.get("note", ""),
                    "login_name": p.get("login_name", ""),
                },
            )
            self.state.write(cons_id, {})
            self._log(
                call,
                cons_id,
                {
                    "subject": f"Took action: {alert['title']}"[:80],
                    "body": p.get("note", ""),
                    "type_id": "0",
                    "cat_id": "0",
                    "count": "1",
                },
            )
        payload["action_id"] = int(action["action_id"])
        payload["message"] = "Action taken."
        return "takeActionResponse", payload
