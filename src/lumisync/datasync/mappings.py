"""The field-mapping table: the seed's default rows, Luminate's names for them, and the rules on editing.

Each row maps one field of ours to a Luminate API field name (read by getUser, written by create/update)
and, optionally, to a heading of the nightly CSV file. Custom fields are never synced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction

from lumisync.datasync.models import OPT_IN_FIELD, FieldMapping, Integration, MappingKind


@dataclass(frozen=True)
class DefaultMapping:
    field: str
    label: str
    kind: str
    api_field_name: str
    csv_heading: str = ""
    # The attribute of the record of this kind (Profile, Donation or Call) that the row fills.
    attribute: str = ""


# The seed's table, in its order, with Luminate's names (luminate-api.md §6, §9, §10, §11.2). CSV headings
# are pre-filled only for the columns of the default changed-records file; donation headings stay blank
# until the site's export carries donations.
DEFAULT_MAPPINGS: tuple[DefaultMapping, ...] = (
    DefaultMapping(OPT_IN_FIELD, "Opt-in status", MappingKind.CONSTITUENT, "", "", ""),
    DefaultMapping("phone_number", "Phone number", MappingKind.CONSTITUENT, "mobile_phone", "MOBILE_PHONE", "phone_number"),
    DefaultMapping("profile_first_name", "First name", MappingKind.CONSTITUENT, "name.first", "FIRST_NAME", "first_name"),
    DefaultMapping("profile_last_name", "Last name", MappingKind.CONSTITUENT, "name.last", "LAST_NAME", "last_name"),
    DefaultMapping("profile_email", "Email", MappingKind.CONSTITUENT, "primary_email", "PRIMARY_EMAIL", "email"),
    DefaultMapping("address_street_1", "Street address", MappingKind.CONSTITUENT, "primary_address.street1", "", "street1"),
    DefaultMapping("address_street_2", "Street address 2", MappingKind.CONSTITUENT, "primary_address.street2", "", "street2"),
    DefaultMapping("address_city", "City", MappingKind.CONSTITUENT, "primary_address.city", "", "city"),
    DefaultMapping("address_state", "State", MappingKind.CONSTITUENT, "primary_address.state", "", "state"),
    DefaultMapping("address_postal_code", "Zip code", MappingKind.CONSTITUENT, "primary_address.zip", "", "postal_code"),
    DefaultMapping("address_country", "Country", MappingKind.CONSTITUENT, "primary_address.country", "", "country"),
    DefaultMapping("constituent_id", "Constituent ID", MappingKind.CONSTITUENT, "cons_id", "CONS_ID", "constituent_id"),
    DefaultMapping("donation_form_id", "Donation form ID", MappingKind.DONATION, "form_id", "", "form_id"),
    DefaultMapping("donation_level_id", "Donation level ID", MappingKind.DONATION, "level_id", "", "level_id"),
    DefaultMapping("donation_transaction_id", "Donation transaction ID", MappingKind.DONATION, "confirmation_code", "", "transaction_id"),
    DefaultMapping("donor_email", "Donor email", MappingKind.DONATION, "donor.email", "", "donor_email"),
    DefaultMapping("donation_amount", "Amount of donation", MappingKind.DONATION, "amount", "", "amount"),
    DefaultMapping("billing_address", "Billing address", MappingKind.DONATION, "billing.address", "", "billing_street1"),
    DefaultMapping("call_recipient_id", "Legislator called (recipient)", MappingKind.CALL, "contact_name", "", "recipient_name"),
    DefaultMapping("call_alert_id", "Call alert ID", MappingKind.CALL, "alert_id", "", "alert_id"),
    DefaultMapping("call_start_time", "Call start time", MappingKind.CALL, "note", "", "started_at"),
)  # fmt: skip

DEFAULTS_BY_FIELD = {row.field: row for row in DEFAULT_MAPPINGS}

# The seed: these exist in both systems by definition, so Required? would only drop records (phone, email,
# opt-in), or, for the constituent ID that Luminate assigns, stop every new profile from being exported.
REQUIRED_REFUSED = {
    "phone_number": "a phone number must exist in both systems for any record to sync, so it is always needed",
    "profile_email": "an email must exist in both systems for any record to sync, so it is always needed",
    OPT_IN_FIELD: "the opt-in status must exist in both systems for any record to sync, so it is always needed",
    "constituent_id": (
        "Luminate assigns the constituent ID; new profiles here do not have one yet, so requiring it would "
        "stop every new opt-in from being sent to Luminate"
    ),
}

# Renaming these breaks the whole sync if the new name is wrong, so a rename asks for confirmation.
RENAME_CONFIRM = ("phone_number", "profile_email", OPT_IN_FIELD)

TRANSACTION_FIELD = "donation_transaction_id"

_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")


def label_of(field: str) -> str:
    default = DEFAULTS_BY_FIELD.get(field)
    return default.label if default else field


def luminate_field_name_error(value: str) -> str | None:
    """Why ``value`` is not a Luminate API field name (None when it is one)."""
    if _FIELD_NAME.fullmatch(value):
        return None
    return (
        f"{value!r} is not a Luminate field name: use the API name from listUserFields (letters, digits, "
        "'_' and dots, for example custom_boolean50 or primary_address.city), not the label shown in Luminate."
    )


def rename_confirmation_error(renamed: list[str]) -> str:
    """What a form says when ``renamed`` ("Email from 'a' to 'b'", ...) was changed without confirmation."""
    return (
        f"You renamed {'; '.join(renamed)}. If a name is wrong the sync fails: tick this box to save, then run "
        "Test Connection, which checks the new names."
    )


def seed_default_mappings(integration: Integration) -> list[FieldMapping]:
    """Add every default row the integration does not have yet; existing rows are left as they are."""
    with transaction.atomic():
        have = set(integration.field_mappings.values_list("field", flat=True))
        rows = [
            FieldMapping(
                integration=integration,
                field=default.field,
                kind=default.kind,
                api_field_name=default.api_field_name,
                csv_heading=default.csv_heading,
                position=position,
            )
            for position, default in enumerate(DEFAULT_MAPPINGS)
            if default.field not in have
        ]
        FieldMapping.objects.bulk_create(rows)
    return list(integration.field_mappings.all())
