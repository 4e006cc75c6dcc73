"""Organizations, and the people who belong to them with a role."""

from __future__ import annotations

import zoneinfo

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name (for example America/New_York).")


def validate_phone_region(value: str) -> None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"{value!r} is not a two-letter phone region (for example US or GB).")


class Organization(models.Model):
    """A tenant: one nonprofit with its own campaigns, profiles and integration."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="America/New_York", validators=[validate_time_zone])
    phone_region = models.CharField(
        max_length=2,
        default="US",
        validators=[validate_phone_region],
        help_text="Region used to read phone numbers written without a country code.",
    )
    sending_window_start = models.TimeField(default="09:00", help_text="Earliest local time to text someone.")
    sending_window_end = models.TimeField(default="20:00", help_text="Latest local time to text someone.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", "Administrator"
    STAFF = "staff", "Staff"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.get_role_display()})"

    @property
    def is_administrator(self) -> bool:
        return self.role == Role.ADMINISTRATOR


class LoginAttempt(models.Model):
    """A failed sign-in, kept for the cool-off window only.

    Stored in the database rather than a cache so every process of an installation counts the same
    failures.
    """

    username = models.CharField(max_length=150, db_index=True, help_text="As typed, case-folded.")
    address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    attempted_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return (
            f"Failed sign-in for {self.username!r} from {self.address} at {self.attempted_at:%Y-%m-%d %H:%M}"
        )
