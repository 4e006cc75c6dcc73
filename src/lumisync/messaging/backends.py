"""Delivery backends: how a queued message leaves the platform.

``LUMISYNC_SMS_BACKEND`` names one: ``log`` (records and logs, sends nothing), ``twilio`` (a
Twilio-compatible Messages API, one account per organization), or the dotted path of a class with the same
``send``/``close`` methods. A backend raises :class:`PermanentDeliveryError` when the provider refused the
message for good and :class:`TransientDeliveryError` when trying again later may succeed; neither ever
carries a credential in its text.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from lumisync.luminate.egress import EgressRefused, check_url
from lumisync.luminate.protocol import caused_by_certificate
from lumisync.messaging import conf
from lumisync.messaging.models import Message, ProviderAccount

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The provider did not take the message; ``code`` is the provider's error code when it gave one."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class PermanentDeliveryError(DeliveryError):
    """Sending the same message again would fail the same way (bad number, blocked, rejected)."""


class TransientDeliveryError(DeliveryError):
    """The provider or the network failed this time (5xx, timeout, throttled, not configured yet)."""


@dataclass(frozen=True)
class Accepted:
    provider_sid: str


def mask_number(number: str) -> str:
    """Enough of a phone number to tell messages apart in a log, not enough to identify a person."""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


class LogBackend:
    """Logs each message instead of sending it; for development and demonstrations."""

    def send(self, message: Message, *, status_callback: str | None) -> Accepted:
        logger.info(
            "SMS message %s (%s) to %s not sent (log backend): %s",
            message.pk,
            message.kind,
            mask_number(message.profile.phone_number),
            message.body,
        )
        return Accepted(provider_sid="LG" + uuid.uuid4().hex)

    def close(self) -> None:
        pass


class TwilioBackend:
    """Posts to ``{base_url}/2010-04-01/Accounts/{sid}/Messages.json`` with the organization's account."""

    def __init__(self, *, timeout: float | None = None) -> None:
        self._client = httpx.Client(
            timeout=conf.timeout_seconds() if timeout is None else timeout,
            follow_redirects=False,
        )

    def send(self, message: Message, *, status_callback: str | None) -> Accepted:
        account = self._account(message)
        url = f"{account.base_url.rstrip('/')}/2010-04-01/Accounts/{account.account_sid}/Messages.json"
        form = {"To": message.profile.phone_number, "From": account.from_number, "Body": message.body}
        if status_callback:
            form["StatusCallback"] = status_callback
        try:
            response = self._client.post(
                url, data=form, auth=httpx.BasicAuth(account.account_sid, str.__str__(account.auth_token))
            )
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"The SMS provider at {account.base_url} timed out.") from exc
        except httpx.TransportError as exc:
            if caused_by_certificate(exc):
                # Transient all the same: a provider's expired certificate or a missing CA gets fixed, and
                # the messages should go then rather than fail for good.
                raise TransientDeliveryError(
                    f"The TLS certificate of the SMS provider at {account.base_url} was refused ({exc}): "
                    "check the provider URL, and that the certificate authority that signed it is trusted "
                    "(SSL_CERT_FILE)."
                ) from exc
            raise TransientDeliveryError(
                f"The SMS provider at {account.base_url} could not be reached ({type(exc).__name__})."
            ) from exc
        return self._accepted(response, message)

    def close(self) -> None:
        self._client.close()

    @staticmethod
    def _account(message: Message) -> ProviderAccount:
        organization = message.organization
        account = ProviderAccount.objects.filter(organization=organization).first()
        if account is None or not account.account_sid or not account.auth_token:
            raise TransientDeliveryError(
                f"Organization {organization.slug!r} has no SMS provider account with a SID and auth token."
            )
        schemes = ("https", "http") if settings.LUMISYNC_ALLOW_PRIVATE_HOSTS else ("https",)
        try:
            check_url(account.base_url, schemes=schemes, allow_private=settings.LUMISYNC_ALLOW_PRIVATE_HOSTS)
        except EgressRefused as exc:
            raise TransientDeliveryError(
                f"The SMS provider URL of organization {organization.slug!r} is refused: {exc}"
            ) from exc
        return account

    @staticmethod
    def _accepted(response: httpx.Response, message: Message) -> Accepted:
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        status = response.status_code
        if 200 <= status < 300:
            sid = payload.get("sid")
            if not isinstance(sid, str) or not sid:
                raise TransientDeliveryError(
                    f"The SMS provider answered HTTP {status} for message {message.pk} without a message sid."
                )
            return Accepted(provider_sid=sid)
        code = str(payload.get("code") or "")
        text = str(payload.get("message") or response.reason_phrase or "no reason given")
        detail = f"HTTP {status}: {text}" + (f" (provider error {code})" if code else "")
        # 408 and 429 are 4xx only in form: the same request succeeds once the provider catches up.
        if status >= 500 or status in (408, 429):
            raise TransientDeliveryError(detail, code=code)
        raise PermanentDeliveryError(detail, code=code)


BACKENDS = {"log": LogBackend, "twilio": TwilioBackend}


def get_backend(name: str | None = None):
    """A new instance of the configured backend; the caller closes it when done."""
    name = name or settings.LUMISYNC_SMS_BACKEND
    if name in BACKENDS:
        return BACKENDS[name]()
    if "." not in name:
        raise ValueError(
            f"LUMISYNC_SMS_BACKEND is {name!r}: use one of {', '.join(sorted(BACKENDS))} or a dotted class path."
        )
    return import_string(name)()
