"""Helpers of the engine's end-to-end tests: constituents in the simulator, files on its FTP site, and
what a run wrote on either side."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from django.utils import timezone

from lumisync.datasync.engine.inbound import InboundOptions, run_inbound
from lumisync.datasync.models import SyncRecord, SyncRun
from lumisync.messaging.models import Message
from lumisync.subscribers import services
from lumisync.subscribers.models import Channel

LUMINATE_WRITES = frozenset({"create", "update", "createOrUpdate", "logInteraction", "takeAction"})
FILE_HEADINGS = ("CONS_ID", "PRIMARY_EMAIL", "FIRST_NAME", "LAST_NAME", "MOBILE_PHONE", "MODIFY_DATE")


def add(sim, email: str | None, phone: str | None, opted_in: bool = True, **fields) -> str:
    """A constituent as Luminate staff would add it; ``first`` and ``last`` set the name."""
    values = {
        "custom_boolean50": opted_in,
        "name.first": fields.pop("first", "Pat"),
        "name.last": fields.pop("last", "Lee"),
        **fields,
    }
    if email:
        values["primary_email"] = email
    if phone:
        values["mobile_phone"] = phone
    # The file writes modify times to the second: each edit gets a second of its own.
    sim.clock.advance(1)
    return sim.state.add_constituent(**values)


def linked_caller(sim, organization, email: str, phone: str, legislator: str) -> str:
    """A constituent whose linked profile has just called ``legislator``; returns the constituent ID."""
    cons = sim.state.add_constituent(primary_email=email)
    caller, _ = services.get_or_create_profile(organization, phone, channel=Channel.WEB)
    services.update_profile_fields(caller, constituent_id=cons)
    services.record_call(caller, alert_id="4001", recipient_name=legislator, started_at=timezone.now())
    return cons


def change(sim, cons_id: str, **fields) -> None:
    """An edit in Luminate, a second after the previous one."""
    sim.clock.advance(1)
    sim.state.update_constituent(cons_id, **fields)


def publish(sim, mode: str = "liberal", **options) -> str:
    """The simulator's own nightly file (records changed in the last 24 hours) on its FTP site."""
    return sim.write_changed_file(mode=mode, **options)


def publish_rows(sim, rows: list[dict], headings: tuple[str, ...] = FILE_HEADINGS) -> str:
    """A changed-records file of exactly ``rows`` (heading -> value) on the simulator's FTP site."""
    name = sim.write_changed_file(mode="full")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headings)
    for row in rows:
        writer.writerow([row.get(heading, "") for heading in headings])
    (Path(sim.ftp_root) / name).write_bytes(buffer.getvalue().encode())
    return name


def sync(integration, **options) -> SyncRun:
    return run_inbound(integration, InboundOptions(**options))


def rows(run: SyncRun) -> dict[str, SyncRecord]:
    return {record.constituent_id: record for record in run.records.all()}


def category(run: SyncRun, cons_id: str) -> str:
    return rows(run)[cons_id].category


def calls(sim, method: str) -> list[dict]:
    return [entry for entry in sim.request_log if entry.get("method") == method]


def called_ids(sim, method: str) -> list[str]:
    return [str(entry["params"].get("cons_id")) for entry in calls(sim, method)]


def luminate_writes(sim) -> list[dict]:
    return [entry for entry in sim.request_log if entry.get("method") in LUMINATE_WRITES]


def welcomes(profile=None) -> int:
    messages = Message.objects.filter(kind=Message.Kind.WELCOME)
    return (messages.filter(profile=profile) if profile is not None else messages).count()
