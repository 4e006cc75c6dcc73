"""The control endpoint: JSON over HTTP under /_sim/, guarded by the control token.

Routes (all bodies and answers are JSON; send the token as `X-Sim-Token`):
  GET    /_sim/status
  POST   /_sim/constituents              {"fields": {...}}            -> {"cons_id"}
  GET    /_sim/constituents/{id}
  POST   /_sim/constituents/{id}         {"fields": {...}}            (a staff edit; bumps modify_time)
  DELETE /_sim/constituents/{id}
  GET    /_sim/constituents/{id}/interactions | /actions
  GET    /_sim/find?email=...
  POST   /_sim/groups                    {"name": ...}                -> {"group_id"}
  POST   /_sim/clock                     {"advance": seconds} | {"set": iso8601} | {"frozen": bool}
  POST   /_sim/faults                    {"method", "kind", "count", "probability", ...params}
  DELETE /_sim/faults
  POST   /_sim/ftp_faults                {"kind", "count"}
  GET|POST /_sim/quirks                  {"all": bool} and/or {"string_scalars": bool, ...}
  POST   /_sim/settings                  {"allowed_cidrs": [...], "duplicate_emails", "latency_ms", "jitter_ms"}
  GET    /_sim/requests?limit=N          the request log, passwords and keys redacted
  POST   /_sim/files                     {"since", "until", "mode", ...file options} -> {"filename"}
"""

from __future__ import annotations

import hmac
import json
from datetime import date, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from .api import Reply, Request
from .faults import HTTP_KINDS

if TYPE_CHECKING:
    from .harness import Simulator


class _BadRequest(Exception):
    pass


def _encode(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _json(status: int, payload) -> Reply:
    return Reply(status, json.dumps(payload, default=_encode).encode(), "application/json")


def _moment(value, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _BadRequest(f"{name}={value!r} is not an ISO 8601 timestamp") from None


def handle_admin(sim: Simulator, request: Request) -> Reply:
    token = request.headers.get("x-sim-token", "")
    if not hmac.compare_digest(token.encode(), sim.control_token.encode()):
        return _json(403, {"error": "missing or wrong X-Sim-Token"})
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise _BadRequest("the request body must be a JSON object")
        return _json(
            200,
            _dispatch(
                sim,
                request.http_method,
                request.path.rstrip("/").split("/")[2:],
                parse_qs(request.query),
                body,
            ),
        )
    except json.JSONDecodeError as err:
        return _json(400, {"error": f"invalid JSON body: {err}"})
    except KeyError as err:
        return _json(404, {"error": str(err.args[0]) if err.args else "not found"})
    except (_BadRequest, ValueError, TypeError) as err:
        return _json(400, {"error": str(err)})


def _dispatch(sim: Simulator, verb: str, parts: list[str], query: dict, body: dict):
    route = (verb, parts[0] if parts else "", len(parts))
    state = sim.state
    match route:
        case ("GET", "status", 1):
            return {
                "base_url": sim.base_url,
                "org": sim.org,
                "constituents": state.count(),
                "now": sim.clock.now(),
                "ftp_url": sim.ftp_url,
                "ftps_url": sim.ftps_url,
                "quirks": sim.quirks.as_dict(),
                "faults": sim.faults.rules(),
                "ftp_faults": sim.ftp_faults.pending(),
            }
        case ("POST", "constituents", 1):
            return {"cons_id": state.add_constituent(**_fields(body))}
        case ("GET", "constituents", 2):
            return state.get_constituent(parts[1])
        case ("POST", "constituents", 2):
            state.update_constituent(parts[1], **_fields(body))
            return state.get_constituent(parts[1])
        case ("DELETE", "constituents", 2):
            state.delete_constituent(parts[1])
            return {"deleted": parts[1]}
        case ("GET", "constituents", 3) if parts[2] in ("interactions", "actions"):
            state.get_constituent(parts[1])
            return getattr(state, parts[2])(parts[1])
        case ("GET", "find", 1):
            return {"cons_ids": state.find_by_email(query.get("email", [""])[0])}
        case ("POST", "groups", 1):
            if not body.get("name"):
                raise _BadRequest("a group needs a name")
            return {"group_id": state.add_group(str(body["name"]), str(body.get("description", "")))}
        case ("POST", "clock", 1):
            if "set" in body:
                sim.clock.set(_moment(body["set"], "set"))
            if "advance" in body:
                sim.clock.advance(float(body["advance"]))
            if "frozen" in body:
                sim.clock.freeze(bool(body["frozen"]))
            return {"now": sim.clock.now()}
        case ("POST", "faults", 1):
            spec = dict(body)
            kind = spec.pop("kind", None)
            if kind not in HTTP_KINDS:
                raise _BadRequest(f"fault kind {kind!r} is not one of {', '.join(HTTP_KINDS)}")
            sim.faults.inject(
                spec.pop("method", None),
                kind,
                count=spec.pop("count", None),
                probability=spec.pop("probability", None),
                **spec,
            )
            return {"faults": sim.faults.rules()}
        case ("DELETE", "faults", 1):
            sim.faults.clear()
            sim.ftp_faults.clear()
            return {"faults": []}
        case ("POST", "ftp_faults", 1):
            sim.ftp_faults.inject(body.get("kind"), int(body.get("count", 1)))
            return {"ftp_faults": sim.ftp_faults.pending()}
        case ("GET", "quirks", 1):
            return sim.quirks.as_dict()
        case ("POST", "quirks", 1):
            values = dict(body)
            if "all" in values:
                sim.quirks.set_all(bool(values.pop("all")))
            sim.quirks.update(values)
            return sim.quirks.as_dict()
        case ("POST", "settings", 1):
            if "allowed_cidrs" in body:
                sim.set_allowed_cidrs(body["allowed_cidrs"])
            if "duplicate_emails" in body:
                sim.set_duplicate_emails(body["duplicate_emails"])
            if "latency_ms" in body or "jitter_ms" in body:
                sim.set_latency(
                    int(body.get("latency_ms", sim.latency_ms)), int(body.get("jitter_ms", sim.jitter_ms))
                )
            return {"ok": True}
        case ("GET", "requests", 1):
            log = sim.request_log
            limit = int(query.get("limit", ["100"])[0])
            return log[-limit:] if limit > 0 else []
        case ("POST", "files", 1):
            options = dict(body)
            since = _moment(options.pop("since", None), "since")
            until = _moment(options.pop("until", None), "until")
            mode = options.pop("mode", "liberal")
            return {"filename": sim.write_changed_file(since=since, until=until, mode=mode, **options)}
    raise KeyError(f"no control route {verb} /_sim/{'/'.join(parts)}")


def _fields(body: dict) -> dict:
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise _BadRequest('the body needs "fields": an object of Luminate field names to values')
    return fields
