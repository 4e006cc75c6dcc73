"""Mobile Commons-shaped XML: ``<response success="true">…</response>`` and the records inside it."""

from __future__ import annotations

import datetime as dt
import re
from xml.etree.ElementTree import Element, SubElement, tostring

from django.http import HttpResponse

from lumisync.mcapi.errors import ApiError

CONTENT_TYPE = "application/xml; charset=utf-8"
# Characters XML 1.0 cannot carry at all, not even escaped; a stray one in stored data would make the
# whole answer unreadable to the client.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
ADDRESS_FIELDS = ("street1", "street2", "city", "state", "postal_code", "country")


def stamp(value: dt.datetime | None) -> str:
    """Mobile Commons' time format, always in UTC: ``2011-11-01 15:30:59 UTC``."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def mc_phone(e164: str) -> str:
    """Mobile Commons writes numbers as digits with the country code and no plus sign."""
    return e164.lstrip("+")


def _text(parent: Element, tag: str, value) -> Element:
    child = SubElement(parent, tag)
    child.text = "" if value is None else str(value)
    return child


def response(*children: Element) -> HttpResponse:
    root = Element("response", success="true")
    root.extend(children)
    return _render(root)


def error_response(error: ApiError) -> HttpResponse:
    root = Element("response", success="false")
    SubElement(root, "error", id=str(error.error_id), message=error.message)
    return _render(root)


def _render(root: Element) -> HttpResponse:
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + NOT_XML.sub("", tostring(root, encoding="unicode"))
    return HttpResponse(body.encode("utf-8"), content_type=CONTENT_TYPE)


def subscription_element(subscription, tag: str = "subscription") -> Element:
    activation = subscription.activated_by
    opt_out = subscription.opted_out_by
    return Element(
        tag,
        campaign_id=str(subscription.campaign_id),
        campaign_name=subscription.campaign.name,
        campaign_description=subscription.campaign.description,
        opt_in_path_id=str(subscription.opt_in_path_id or ""),
        status=subscription.get_status_display(),
        opt_in_source=activation.get_channel_display() if activation else "",
        created_at=stamp(subscription.created_at),
        activated_at=stamp(subscription.activated_at),
        opted_out_at=stamp(subscription.opted_out_at),
        opt_out_source=opt_out.get_channel_display() if opt_out else "",
    )


def profile_element(profile, *, custom_columns: bool = True, subscriptions: bool = True) -> Element:
    """A profile as Mobile Commons writes it; ``subscriptions`` expects them prefetched with their campaign."""
    element = Element("profile", id=str(profile.pk))
    _text(element, "first_name", profile.first_name)
    _text(element, "last_name", profile.last_name)
    _text(element, "phone_number", mc_phone(profile.phone_number))
    _text(element, "email", profile.email)
    _text(element, "status", profile.get_status_display())
    _text(element, "created_at", stamp(profile.created_at))
    _text(element, "updated_at", stamp(profile.updated_at))
    _text(element, "opted_out_at", stamp(profile.opted_out_at))
    _text(element, "opted_out_source", profile.opted_out_source)
    # Always with attributes: clients unpack <source> and <address> into columns and need a mapping.
    SubElement(
        element,
        "source",
        type=profile.source,
        name=profile.get_source_display() if profile.source else "",
        detail=profile.source_detail,
    )
    address = SubElement(element, "address")
    for field in ADDRESS_FIELDS:
        _text(address, field, getattr(profile, field))
    if custom_columns:
        columns = SubElement(element, "custom_columns")
        for name, value in sorted((profile.custom_fields or {}).items()):
            _text(columns, "custom_column", value).set("name", name)
    if subscriptions:
        listing = SubElement(element, "subscriptions")
        for subscription in profile.subscriptions.all():
            listing.append(subscription_element(subscription))
    integrations = SubElement(element, "integrations")
    if profile.constituent_id:
        SubElement(
            integrations,
            "integration",
            type="luminate",
            constituent_id=profile.constituent_id,
            synchronized_at=stamp(profile.luminate_synced_at),
        )
    return element


def profiles_element(profiles, *, page: int, custom_columns: bool, subscriptions: bool) -> Element:
    element = Element("profiles", num=str(len(profiles)), page=str(page))
    for profile in profiles:
        element.append(profile_element(profile, custom_columns=custom_columns, subscriptions=subscriptions))
    return element


def opt_in_path_element(path) -> Element:
    element = Element("opt_in_path", id=str(path.pk), active=str(path.active).lower())
    _text(element, "name", path.name)
    _text(element, "type", path.get_kind_display())
    _text(element, "keyword", path.keyword)
    _text(element, "key", path.public_key)
    _text(element, "welcome_message", path.welcome_message)
    _text(element, "requires_confirmation", str(path.requires_confirmation).lower())
    return element


def campaign_element(campaign, *, opt_in_paths: bool) -> Element:
    element = Element("campaign", id=str(campaign.pk), active=str(campaign.active).lower())
    _text(element, "name", campaign.name)
    _text(element, "description", campaign.description)
    if opt_in_paths:
        paths = SubElement(element, "opt_in_paths")
        for path in campaign.opt_in_paths.all():
            paths.append(opt_in_path_element(path))
    return element


def subscriber_element(subscription) -> Element:
    """One row of ``campaign_subscribers``: Mobile Commons' ``<sub>`` with child elements."""
    element = Element("sub", id=str(subscription.pk))
    _text(element, "profile_id", subscription.profile_id)
    _text(element, "phone_number", mc_phone(subscription.profile.phone_number))
    _text(element, "status", subscription.get_status_display())
    _text(element, "opt_in_path_id", subscription.opt_in_path_id or "")
    _text(element, "created_at", stamp(subscription.created_at))
    _text(element, "activated_at", stamp(subscription.activated_at))
    _text(element, "opted_out_at", stamp(subscription.opted_out_at))
    return element


def call_element(call) -> Element:
    element = Element("call", id=str(call.pk))
    _text(element, "profile_id", call.profile_id)
    _text(element, "phone_number", mc_phone(call.profile.phone_number))
    _text(element, "alert_id", call.alert_id)
    _text(element, "recipient_id", call.recipient_id)
    _text(element, "recipient_name", call.recipient_name)
    _text(element, "started_at", stamp(call.started_at))
    _text(element, "duration", call.duration_seconds)
    _text(element, "status", call.status)
    return element
