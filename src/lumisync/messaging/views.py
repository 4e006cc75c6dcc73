"""Webhooks the SMS provider calls (delivery receipts and incoming texts), and the Administrators' page
that sets the provider account.

Both webhooks are signed by the provider with the organization's auth token; nothing is read or changed
before the signature is checked, beyond finding which organization's token to check it with.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from lumisync.accounts.decorators import administrator_required
from lumisync.messaging import conf, services
from lumisync.messaging.backends import mask_number
from lumisync.messaging.forms import ProviderAccountForm, TestMessageForm, number_taken_message
from lumisync.messaging.models import Message, ProviderAccount
from lumisync.messaging.signatures import signature_is_valid
from lumisync.subscribers.inbound import handle_inbound_text
from lumisync.subscribers.models import Channel, Profile
from lumisync.subscribers.phones import InvalidPhoneNumber, normalize_phone
from lumisync.subscribers.services import get_or_create_profile

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _signed_by(request: HttpRequest, account: ProviderAccount) -> bool:
    # Behind a proxy the site may not know the public address the provider signed, so that one counts too.
    urls = [request.build_absolute_uri()]
    if conf.public_url():
        urls.append(conf.public_url() + request.get_full_path())
    params = [(name, value) for name, values in request.POST.lists() for value in values]
    return signature_is_valid(
        str.__str__(account.auth_token), urls, params, request.headers.get("X-Twilio-Signature", "")
    )


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest, message_id: int) -> HttpResponse:
    """A delivery receipt: MessageSid, MessageStatus and, for failures, ErrorCode."""
    message = get_object_or_404(Message.objects.select_related("organization"), pk=message_id)
    account = ProviderAccount.objects.filter(organization=message.organization).first()
    if account is None or not _signed_by(request, account):
        logger.warning("Delivery receipt for SMS message %s refused: bad or missing signature", message_id)
        return HttpResponseForbidden("Bad signature.")
    try:
        services.record_delivery_status(
            message,
            request.POST.get("MessageSid", ""),
            request.POST.get("MessageStatus", "").strip().lower(),
            request.POST.get("ErrorCode", "").strip(),
        )
    except ValueError as exc:
        logger.warning("Delivery receipt refused: %s", exc)
        return HttpResponse(str(exc), status=409, content_type="text/plain")
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def inbound_message(request: HttpRequest) -> HttpResponse:
    """An incoming text (From, To, Body): the subscriber rules answer it, and the answers go at once."""
    to_number = request.POST.get("To", "").strip()
    account = ProviderAccount.objects.select_related("organization").filter(from_number=to_number).first()
    if not to_number or account is None:
        raise Http404("No organization sends from this number.")
    if not _signed_by(request, account):
        logger.warning("Incoming text to %s refused: bad or missing signature", to_number)
        return HttpResponseForbidden("Bad signature.")
    organization = account.organization
    try:
        from_number = normalize_phone(request.POST.get("From", ""), organization.phone_region)
    except InvalidPhoneNumber as exc:
        return HttpResponse(f"From: {exc}", status=400, content_type="text/plain")
    body = request.POST.get("Body", "")
    with transaction.atomic():
        replies = handle_inbound_text(organization, from_number, body)
        profile = Profile.objects.filter(organization=organization, phone_number=from_number).first()
        if profile is not None:
            for reply in replies:
                services.queue_message(profile, reply, kind=Message.Kind.REPLY, reply=True)
    if profile is None:
        # A deliberate exception to "every text goes through the outbox" (docs/operations.md): a number
        # with no profile (a stranger texting HELP or an unknown word) has no consent record to keep and
        # no profile to hang an outbox row on, so the answer goes back in the response itself. This log
        # line is its only record.
        logger.info(
            "Incoming text from a number without a profile (ending %s), keyword %r, answered inline: %s",
            from_number[-4:],
            " ".join(body.split()),
            " | ".join(replies),
        )
        return _twiml(replies)
    # Whatever the text made due for this person (the replies, a keyword's welcome) goes now, not at the
    # next pass of the sender.
    services.send_due_messages(profile=profile)
    return _twiml([])


def _twiml(replies: list[str]) -> HttpResponse:
    if not replies:
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")
    messages = "".join(f"<Message>{escape(reply)}</Message>" for reply in replies)
    return HttpResponse(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{messages}</Response>', content_type="text/xml"
    )


# --- the provider account page ---------------------------------------------------------------------------


def _site_root(request: HttpRequest) -> str:
    return conf.public_url() or f"{request.scheme}://{request.get_host()}"


def _account_of(request: HttpRequest) -> ProviderAccount:
    organization = request.organization
    account = ProviderAccount.objects.filter(organization=organization).first()
    return account or ProviderAccount(organization=organization)


def _provider_page(request: HttpRequest, form, test_form) -> HttpResponse:
    root = _site_root(request)
    context = {
        "form": form,
        "test_form": test_form,
        "saved": form.instance.pk is not None,
        "public_url_set": bool(conf.public_url()),
        "logged_only": _logged_only(),
        "inbound_url": root + reverse("messaging:inbound"),
        # The provider is told this address with each message; only the message id at its end changes.
        "status_callback_prefix": root + reverse("messaging:status_callback", args=[0]).removesuffix("0/"),
    }
    return render(request, "messaging/provider.html", context)


@sensitive_post_parameters("auth_token")
@administrator_required
def provider_settings(request: HttpRequest) -> HttpResponse:
    account = _account_of(request)
    form = ProviderAccountForm(request.POST or None, instance=account)
    test_form = TestMessageForm(region=request.organization.phone_region)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                form.save()
        except IntegrityError:
            # Another organization took the number between the check and the save.
            form.add_error("from_number", number_taken_message(form.cleaned_data["from_number"]))
        else:
            logger.info(
                "SMS provider account of organization %r saved by %s (auth token %s)",
                request.organization.slug,
                request.user.get_username(),
                "replaced" if form.token_replaced else "kept",
            )
            messages.success(request, "SMS provider settings saved.")
            return redirect("messaging:provider")
    return _provider_page(request, form, test_form)


@require_POST
@administrator_required
def send_test_message(request: HttpRequest) -> HttpResponse:
    """Text the number typed, now and whatever the hour, and show what the provider made of it."""
    organization = request.organization
    account = _account_of(request)
    if account.pk is None:
        messages.error(request, "Save the provider settings before sending a test message.")
        return redirect("messaging:provider")
    test_form = TestMessageForm(request.POST, region=organization.phone_region)
    if not test_form.is_valid():
        return _provider_page(request, ProviderAccountForm(instance=account), test_form)
    number = test_form.cleaned_data["phone_number"]
    profile, _ = get_or_create_profile(
        organization,
        number,
        channel=Channel.ADMIN,
        source_detail="Test message from the SMS provider page",
        require_mobile=False,
    )
    if profile.is_globally_opted_out:
        # A reply-type message would skip the opt-out check, which is meant for answers to the person only.
        test_form.add_error(
            "phone_number",
            f"{number} texted a STOP word on {profile.opted_out_at.astimezone(organization.zone):%Y-%m-%d}; "
            "no test message is sent to it.",
        )
        return _provider_page(request, ProviderAccountForm(instance=account), test_form)
    body = f"Test message from {organization.name}: if you can read this, the SMS provider settings work."
    message = services.queue_message(profile, body, kind=Message.Kind.REPLY, reply=True)
    services.send_due_messages(profile=profile)
    logger.info(
        "Test SMS message %s to %s sent by %s", message.pk, mask_number(number), request.user.get_username()
    )
    return redirect("messaging:test_message", pk=message.pk)


@administrator_required
def test_message(request: HttpRequest, pk: int) -> HttpResponse:
    """The fate of a test message; a status callback updates it, so reloading shows the delivery."""
    message = get_object_or_404(
        Message.objects.select_related("profile"),
        pk=pk,
        organization=request.organization,
        kind=Message.Kind.REPLY,
    )
    return render(request, "messaging/test_message.html", {"message": message, "logged_only": _logged_only()})


def _logged_only() -> bool:
    # The development default: a test message would look sent while nothing left the server.
    return settings.LUMISYNC_SMS_BACKEND == "log"
