"""API keys, rate-limit buckets, and each organization's settings for its public web forms."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from lumisync.accounts.models import Organization
from lumisync.subscribers.models import OptInPath

API_KEY_PREFIX = "lsk_"

# The seed's map from "Mapping Convio Luminate donation forms": our field -> Luminate form element id.
DEFAULT_CONVIO_FORM_MAP = {
    "profile_postal_code": "zip",
    "profile_city": "billing_addr_cityname",
    "profile_street1": "billing_addr_street1name",
    "phone": "donor_phonename",
    "profile_first_name": "fname",
    "profile_state": "billing_addr_state",
    "profile_street2": "billing_addr_street2name",
    "profile_email": "email",
    "profile_last_name": "lname",
}
# Where the thank-you page shows the gift: our field -> element id (Luminate's receipt layout is the
# organization's own, so these are a starting point to edit).
DEFAULT_GIFT_MAP = {
    "transaction_id": "confirmation_code",
    "amount": "gift_amount",
    "form_id": "form_id",
    "level_id": "level_id",
}
DEFAULT_CONSENT_WORDING = (
    "Yes, send me text messages about this cause. Message and data rates may apply. "
    "Text STOP to opt out, HELP for help."
)


def digest_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def default_form_map() -> dict:
    return dict(DEFAULT_CONVIO_FORM_MAP)


def default_gift_map() -> dict:
    return dict(DEFAULT_GIFT_MAP)


def new_snippet_key() -> str:
    return "ds_" + secrets.token_urlsafe(18)


class ApiKey(models.Model):
    """A bearer token for one organization's API; only its SHA-256 digest is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What uses the key, e.g. “nightly export”.")
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"API key {self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def issue(cls, organization: Organization, name: str, created_by=None) -> tuple[ApiKey, str]:
        """Create a key; the token is returned here once and never stored."""
        token = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            organization=organization,
            name=name,
            prefix=token[:12],
            digest=digest_token(token),
            created_by=created_by,
        )
        return key, token


class RateBucket(models.Model):
    """A token bucket kept in the database, so every process of an installation shares one limit."""

    key = models.CharField(max_length=200, unique=True)
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Rate bucket {self.key}"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class WebSettings(models.Model):
    """Where an organization's public opt-in forms live and may send people back to."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="web_settings")
    allowed_redirect_hosts = models.TextField(
        blank=True,
        help_text="One host a line (e.g. www.example.org). After joining, people may be sent back only here.",
    )
    allowed_origins = models.TextField(
        blank=True,
        help_text=(
            "One origin a line (e.g. https://secure.example.org). Pages there may post opt-ins from script; "
            "when the list is not empty, posts from other origins are refused."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "web settings"
        verbose_name_plural = "web settings"

    def __str__(self) -> str:
        return f"Web settings of {self.organization}"

    @property
    def redirect_hosts(self) -> list[str]:
        return [host.lower() for host in _lines(self.allowed_redirect_hosts)]

    @property
    def origins(self) -> list[str]:
        return [origin.rstrip("/").lower() for origin in _lines(self.allowed_origins)]


class DonationFormSnippet(models.Model):
    """The organization's snippet for Luminate donation forms (opt-in on the form, gift on thank-you)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="donation_snippet"
    )
    key = models.CharField(
        max_length=40,
        unique=True,
        default=new_snippet_key,
        help_text="Public: it appears in the donation pages and names the organization to the platform.",
    )
    form_map = models.JSONField(
        default=default_form_map, help_text="Our field → id of the Luminate form element."
    )
    gift_map = models.JSONField(
        default=default_gift_map,
        help_text="Gift detail → id of the element showing it on the thank-you page.",
    )
    opt_in_path = models.ForeignKey(
        OptInPath, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checkbox_id = models.CharField(
        max_length=100, default="sms_opt_in", help_text="Id of the SMS opt-in checkbox on the form."
    )
    consent_wording = models.TextField(default=DEFAULT_CONSENT_WORDING)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Donation form snippet of {self.organization}"
