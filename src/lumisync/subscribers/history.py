"""A profile's consent history as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from typing import TextIO

from lumisync.subscribers.models import ConsentEvent, Profile

HEADER = ("Time (UTC)", "Event", "Campaign", "Opt-in path", "Channel", "Actor", "Detail", "Wording shown")
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: str) -> str:
    """Prefix a cell a spreadsheet would read as a formula with an apostrophe, so it stays text."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def write_consent_history(profile: Profile, stream: TextIO) -> None:
    """Write every consent event of ``profile``, oldest first, as CSV rows to ``stream``."""
    writer = csv.writer(stream)
    writer.writerow(HEADER)
    events = (
        ConsentEvent.objects.filter(profile=profile).select_related("campaign", "opt_in_path").order_by("id")
    )
    for event in events.iterator():
        row = (
            event.occurred_at.astimezone(UTC).isoformat(timespec="seconds"),
            event.get_kind_display(),
            event.campaign.name if event.campaign else "All campaigns",
            event.opt_in_path.name if event.opt_in_path else "",
            event.get_channel_display(),
            event.actor,
            event.source_detail,
            event.consent_wording,
        )
        writer.writerow([neutralize_cell(cell) for cell in row])


def consent_history_csv(profile: Profile) -> str:
    """The consent history of ``profile`` as one CSV text (see :func:`write_consent_history`)."""
    buffer = io.StringIO()
    write_consent_history(profile, buffer)
    return buffer.getvalue()
