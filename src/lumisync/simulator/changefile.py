"""The nightly changed-records CSV that Luminate Support drops on the FTP site (luminate-api.md §11)."""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import datetime, timedelta, timezone

from .config import FILE_NAME_SITE_TOKENS, FILE_NAME_TIME_TOKENS, FILE_NAME_TOKEN, FileOptions
from .faults import FtpFaults
from .state import State

MODES = ("liberal", "conservative", "full")
_COLUMNS = (
    # (db header, label header, record key)
    ("CONS_ID", "Constituent ID", "cons_id"),
    ("MEMBER_ID", "Member ID", "member_id"),
    ("PRIMARY_EMAIL", "Email", "primary_email"),
    ("FIRST_NAME", "First Name", "name.first"),
    ("LAST_NAME", "Last Name", "name.last"),
    ("MOBILE_PHONE", "Mobile Phone", "mobile_phone"),
    ("MODIFY_DATE", "Modification Time", "modify_time"),
)
_DONATION_COLUMNS = (
    ("DONATION_FORM_ID", "Donation Form ID", "form_id"),
    ("DONATION_LEVEL_ID", "Donation Level ID", "level_id"),
    ("TRANSACTION_ID", "Transaction ID", "transaction_id"),
    ("CONFIRMATION_CODE", "Confirmation Code", "confirmation_code"),
    ("DONATION_AMOUNT", "Donation Amount", "amount"),
    ("DONOR_EMAIL", "Donor Email", "donor_email"),
    ("BILLING_STREET1", "Billing Street 1", "billing.street1"),
    ("BILLING_CITY", "Billing City", "billing.city"),
    ("BILLING_STATE", "Billing State", "billing.state"),
    ("BILLING_ZIP", "Billing ZIP", "billing.zip"),
)
_TIME_FORMATS = {"default": "%Y-%m-%d %H:%M:%S", "us": "%m/%d/%Y %I:%M %p"}


def file_name(options: FileOptions, shortname: str, moment: datetime) -> str:
    def value(token: re.Match[str]) -> str:
        key = token.group(1)
        return shortname if key in FILE_NAME_SITE_TOKENS else moment.strftime(FILE_NAME_TIME_TOKENS[key])

    name = FILE_NAME_TOKEN.sub(value, options.name_pattern)
    folder = options.folder.strip("/")
    return f"{folder}/{name}" if folder else name


def write_changed_file(
    state: State,
    root: str,
    shortname: str,
    options: FileOptions,
    faults: FtpFaults,
    since: datetime | None = None,
    until: datetime | None = None,
    mode: str = "liberal",
) -> str:
    """Write the file under `root`; return its path relative to the FTP home folder."""
    if mode not in MODES:
        raise ValueError(f"changed-file mode {mode!r} is not one of {MODES}")
    site_tz = timezone(timedelta(minutes=state.config.site_utc_offset_minutes))
    now = state.clock.now()
    if mode == "full":
        window = (since, until)
    else:
        end = until or now
        window = (since or end - timedelta(hours=24), end)
    relative = file_name(options, shortname, (window[1] or now).astimezone(site_tz))
    columns = _COLUMNS + (_DONATION_COLUMNS if options.donation_columns else ())
    header_index = 0 if options.header_style == "db" else 1

    def stamp(moment: datetime) -> str:
        local = moment.astimezone(site_tz)
        if options.timestamp_format == "iso":
            return local.isoformat(timespec="seconds")
        return local.strftime(_TIME_FORMATS[options.timestamp_format])

    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=options.delimiter,
        lineterminator=options.line_ending,
        quoting=csv.QUOTE_ALL if options.quoting == "all" else csv.QUOTE_MINIMAL,
    )
    writer.writerow([c[header_index] for c in columns])
    rows = state.scan(window[0], window[1], mobile_only=mode != "full", opt_in_only=mode == "conservative")
    for record in rows:
        row = []
        for _db, _label, key in _COLUMNS:
            value = record.get(key)
            row.append("" if value is None else stamp(value) if key == "modify_time" else str(value))
        if options.donation_columns:
            donation = record.get("donation") or {}
            row.extend(str(donation.get(key) or "") for _db, _label, key in _DONATION_COLUMNS)
        writer.writerow(row)

    encoding = options.encoding
    if faults.consume("wrong_encoding"):
        encoding = "cp1252" if encoding.startswith("utf-8") else "utf-8"
    data = buffer.getvalue().encode(encoding, errors="replace")
    if faults.consume("missing_file"):
        return relative
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Written aside then renamed, so a client listing the folder never sees half a file.
    partial = path + ".part"
    with open(partial, "wb") as fh:
        fh.write(data)
    os.replace(partial, path)
    if options.manifest and not faults.consume("missing_manifest"):
        with open(os.path.splitext(path)[0] + ".manifest", "wb"):
            pass
    return relative
