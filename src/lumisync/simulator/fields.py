"""The constituent fields this simulated site exposes, as listUserFields reports them."""

from __future__ import annotations

from dataclasses import dataclass

US_STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
]


@dataclass(frozen=True)
class FieldDef:
    name: str
    label: str
    value_type: str  # BOOLEAN, TEXT, ENUMERATION, DATE
    max_chars: int | None = None
    updatable: bool = True
    required: bool = False
    group: str = "Profile"
    choices: tuple[str, ...] = ()


_STANDARD = (
    FieldDef("cons_id", "Constituent ID", "TEXT", 20, updatable=False, group="Identity"),
    FieldDef("member_id", "Member ID", "TEXT", 255, group="Identity"),
    FieldDef("user_name", "User Name", "TEXT", 60, group="Identity"),
    FieldDef("primary_email", "Email Address", "TEXT", 255, required=True, group="Email"),
    FieldDef("email.accepts_email", "Accepts Email", "BOOLEAN", group="Email"),
    FieldDef("name.title", "Title", "ENUMERATION", choices=("Mr.", "Mrs.", "Ms.", "Mx.", "Dr.", "Rev.")),
    FieldDef("name.first", "First Name", "TEXT", 50),
    FieldDef("name.middle", "Middle Name", "TEXT", 50),
    FieldDef("name.last", "Last Name", "TEXT", 50),
    FieldDef("name.suffix", "Suffix", "ENUMERATION", choices=("Jr.", "Sr.", "II", "III", "IV")),
    FieldDef("primary_address.street1", "Street 1", "TEXT", 128, group="Address"),
    FieldDef("primary_address.street2", "Street 2", "TEXT", 128, group="Address"),
    FieldDef("primary_address.city", "City", "TEXT", 64, group="Address"),
    FieldDef(
        "primary_address.state", "State/Province", "ENUMERATION", group="Address", choices=tuple(US_STATES)
    ),
    FieldDef("primary_address.zip", "ZIP/Postal Code", "TEXT", 40, group="Address"),
    FieldDef(
        "primary_address.country",
        "Country",
        "ENUMERATION",
        group="Address",
        choices=("United States", "Canada"),
    ),
    FieldDef("mobile_phone", "Mobile Phone", "TEXT", 50, group="Phone"),
    FieldDef("home_phone", "Home Phone", "TEXT", 50, group="Phone"),
    FieldDef("birth_date", "Birth Date", "DATE"),
    FieldDef("gender", "Gender", "ENUMERATION", choices=("Male", "Female", "Other")),
    FieldDef("accepts_postal_mail", "Accept Mail", "BOOLEAN"),
    FieldDef("custom_string1", "Custom String 1", "TEXT", 255, group="Custom"),
)


def site_fields(custom_boolean_ids: tuple[int, ...], opt_in_field: str) -> tuple[FieldDef, ...]:
    booleans = tuple(
        FieldDef(
            f"custom_boolean{n}",
            "Mobile Opt-in" if f"custom_boolean{n}" == opt_in_field else f"Custom Boolean {n}",
            "BOOLEAN",
            group="Custom",
        )
        for n in custom_boolean_ids
    )
    return _STANDARD + booleans
