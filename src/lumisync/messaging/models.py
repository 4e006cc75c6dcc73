"""The outbox of text messages and the SMS provider account that delivers them."""

from __future__ import annotations

from django.db import models

from lumisync.accounts.models import Organization
from lumisync.core.fields import EncryptedTextField
from lumisync.subscribers.models import Profile, Subscription


class ProviderAccount(models.Model):
    """A Twilio-compatible Messages API account; the token is encrypted at rest."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="sms_provider")
    base_url = models.URLField(default="https://api.twilio.com", help_text="The provider's API root.")
    account_sid = models.CharField(max_length=64)
    auth_token = EncryptedTextField(blank=True)
    from_number = models.CharField(max_length=20, help_text="The sending number or short code, E.164.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Inbound texts find their organization by the number they were sent to.
        constraints = [models.UniqueConstraint(fields=["from_number"], name="one_organization_per_number")]

    def __str__(self) -> str:
        return f"SMS provider for {self.organization}"


class Message(models.Model):
    class Kind(models.TextChoices):
        WELCOME = "welcome", "Welcome"
        CONFIRMATION = "confirmation", "Confirmation prompt"
        REPLY = "reply", "Reply"
        BROADCAST = "broadcast", "Broadcast"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="messages")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="messages")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    body = models.TextField()
    # Indexed by the (status, not_before) index, which leads with it.
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    not_before = models.DateTimeField(help_text="Not sent before this time (the recipient's sending window).")
    is_reply = models.BooleanField(
        default=False, help_text="Answers a text the person just sent, so it skips the sending window."
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Delivery attempts made so far.")
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sender took it; a stale claim is released after a crash."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_sid = models.CharField(max_length=64, blank=True, db_index=True)
    error_code = models.CharField(max_length=20, blank=True, help_text="The provider's error code, if any.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "not_before"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.profile} ({self.get_status_display()})"
