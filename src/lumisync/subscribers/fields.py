"""The names of a profile's own fields, as plain data that code without Django (the sync policy) can read."""

# A person's details other than the phone number, which identifies the profile, and consent, which only
# the consent services change: what the API and web forms accept and what the sync compares and writes.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "street1",
    "street2",
    "city",
    "state",
    "postal_code",
    "country",
)
