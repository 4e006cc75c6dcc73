"""Webhooks the SMS provider calls: delivery receipts and incoming texts.

Both are signed by the provider with the organization's auth token; nothing is read or changed before the
signature is checked, beyond finding which organization's token to check it with.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lumisync.messaging import conf, services
from lumisync.messaging.backends import mask_number
from lumisync.messaging.models import Message, ProviderAccount
from lumisync.messaging.signatures import signature_is_valid
from lumisync.subscribers.inbound import handle_inbound_text
from lumisync.subscribers.models import Profile
from lumisync.subscribers.phones import InvalidPhoneNumber, normalize_phone

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
    with transaction.atomic():
        replies = handle_inbound_text(organization, from_number, request.POST.get("Body", ""))
        profile = Profile.objects.filter(organization=organization, phone_number=from_number).first()
        if profile is not None:
            for reply in replies:
                services.queue_message(profile, reply, kind=Message.Kind.REPLY, reply=True)
    if profile is None:
        # No profile to hang an outbox row on (a stranger texting HELP): answer in the response itself.
        logger.info(
            "Incoming text from %s without a profile: %s replies inline",
            mask_number(from_number),
            len(replies),
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
