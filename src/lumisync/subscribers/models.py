"""The subscriber platform: campaigns, opt-in paths, profiles, subscriptions and their consent history.

Consent fields here are written only by ``lumisync.subscribers.services`` (``opt_in``, ``opt_out``,
``confirm``), which also append the matching :class:`ConsentEvent` in the same transaction.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from lumisync.accounts.models import Organization


def new_opt_in_path_key() -> str:
    return "OP" + uuid.uuid4().hex.upper()


class Campaign(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="campaign_name_per_org")]

    def __str__(self) -> str:
        return self.name


class OptInPath(models.Model):
    class Kind(models.TextChoices):
        WEB = "web", "Web"
        KEYWORD = "keyword", "Keyword"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="opt_in_paths")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="opt_in_paths")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WEB)
    keyword = models.CharField(
        max_length=40, blank=True, help_text="For keyword paths: the word people text in."
    )
    public_key = models.CharField(max_length=34, unique=True, default=new_opt_in_path_key, editable=False)
    welcome_message = models.TextField(
        blank=True, help_text="Sent once when someone joins through this path."
    )
    confirmation_prompt = models.TextField(
        blank=True,
        help_text="When set, people must reply YES to this prompt before the subscription becomes active.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "keyword"], condition=~Q(keyword=""), name="keyword_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.campaign})"

    @property
    def requires_confirmation(self) -> bool:
        return bool(self.confirmation_prompt.strip())


class ProfileStatus(models.TextChoices):
    ACTIVE = "active", "Active Subscriber"
    UNDELIVERABLE = "undeliverable", "Undeliverable"
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    NO_SUBSCRIPTIONS = "no_subscriptions", "No Subscriptions"
    STOPPED = "stopped", "Texted a STOP word"


# Set by message delivery (messaging.deliverability), not by consent; a consent change other than STOP
# leaves them alone.
DELIVERY_STATUSES = frozenset({ProfileStatus.UNDELIVERABLE, ProfileStatus.HARD_BOUNCE})


class Channel(models.TextChoices):
    """How a consent change or a profile reached the platform."""

    SMS = "sms", "Text message"
    WEB = "web", "Web form"
    API = "api", "API"
    ADMIN = "admin", "Administrator"
    IMPORT = "import", "Import"
    LUMINATE = "luminate", "Luminate sync"
    DONATION_FORM = "donation_form", "Donation form"
    REFERRAL = "referral", "Friend referral"


class Profile(models.Model):
    # Indexed by the unique constraints and the email index, which all lead with it.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="profiles", db_index=False
    )
    phone_number = models.CharField(max_length=20, help_text="E.164, e.g. +12025550143.")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(max_length=255, blank=True)
    street1 = models.CharField(max_length=255, blank=True)
    street2 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=100, blank=True)
    billing_street1 = models.CharField(max_length=255, blank=True)
    billing_street2 = models.CharField(max_length=255, blank=True)
    billing_city = models.CharField(max_length=100, blank=True)
    billing_state = models.CharField(max_length=100, blank=True)
    billing_postal_code = models.CharField(max_length=20, blank=True)
    billing_country = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=20, choices=ProfileStatus.choices, default=ProfileStatus.NO_SUBSCRIPTIONS
    )
    source = models.CharField(
        max_length=20, choices=Channel.choices, help_text="How the profile was first seen."
    )
    source_detail = models.CharField(max_length=255, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True, help_text="Global opt-out (a STOP word).")
    opted_out_source = models.CharField(max_length=255, blank=True)
    # NULL, not "", so that profiles without a link do not collide in the per-organization unique constraint.
    constituent_id = models.CharField(  # noqa: DJ001
        max_length=32, null=True, blank=True, help_text="Luminate constituent ID."
    )
    luminate_synced_at = models.DateTimeField(null=True, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "phone_number"], name="phone_unique_per_org"),
            models.UniqueConstraint(
                fields=["organization", "constituent_id"],
                condition=Q(constituent_id__isnull=False),
                name="constituent_unique_per_org",
            ),
        ]
        indexes = [models.Index(fields=["organization", "email"])]

    def __str__(self) -> str:
        return self.phone_number

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def is_globally_opted_out(self) -> bool:
        return self.opted_out_at is not None


class ConsentEvent(models.Model):
    """The platform's own append-only log of consent changes, with their provenance.

    It knows nothing of any sync: integrations read it past a cursor (its id) to export consent.
    """

    class Kind(models.TextChoices):
        OPT_IN = "opt_in", "Opted in"
        PENDING = "pending", "Awaiting confirmation"
        OPT_OUT = "opt_out", "Opted out"

    # Indexed by the (organization, id) index, which leads with it.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="consent_events", db_index=False
    )
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="consent_events")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opt_in_path = models.ForeignKey(
        OptInPath, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    actor = models.CharField(
        max_length=255, blank=True, help_text="Who made the change: a user, a key, a number."
    )
    source_detail = models.CharField(max_length=500, blank=True, help_text="E.g. the run, form or keyword.")
    consent_wording = models.TextField(blank=True, help_text="The consent text the person was shown, if any.")
    occurred_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["organization", "id"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.profile} via {self.get_channel_display()}"


class Subscription(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        OPTED_OUT = "opted_out", "Opted-Out"

    # Indexed by the one-subscription-per-campaign constraint, which leads with it.
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="subscriptions", db_index=False
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="subscriptions")
    opt_in_path = models.ForeignKey(
        OptInPath, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opted_out_by = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    welcome_sent_at = models.DateTimeField(null=True, blank=True, help_text="Set once; no second welcome.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "campaign"], name="one_subscription_per_campaign")
        ]

    def __str__(self) -> str:
        return f"{self.profile} in {self.campaign} ({self.get_status_display()})"


class Donation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="donations")
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="donations"
    )
    transaction_id = models.CharField(
        max_length=64, help_text="Luminate's confirmation code; one gift, one row."
    )
    form_id = models.CharField(max_length=32, blank=True)
    level_id = models.CharField(max_length=32, blank=True)
    donor_email = models.EmailField(max_length=255, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    billing_street1 = models.CharField(max_length=255, blank=True)
    billing_street2 = models.CharField(max_length=255, blank=True)
    billing_city = models.CharField(max_length=100, blank=True)
    billing_state = models.CharField(max_length=100, blank=True)
    billing_postal_code = models.CharField(max_length=20, blank=True)
    billing_country = models.CharField(max_length=100, blank=True)
    donated_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "transaction_id"], name="donation_once_per_transaction"
            )
        ]

    def __str__(self) -> str:
        return f"Donation {self.transaction_id}"


class Call(models.Model):
    """A patch-through call a supporter made to a legislator."""

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        NO_ANSWER = "no_answer", "No answer"
        BUSY = "busy", "Busy"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="calls")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="calls")
    alert_id = models.CharField(max_length=32)
    recipient_id = models.CharField(max_length=64, blank=True)
    recipient_name = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Call to {self.recipient_name or self.recipient_id} ({self.alert_id})"
