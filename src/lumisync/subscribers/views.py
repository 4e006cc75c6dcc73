"""Admin pages for profiles, campaigns and opt-in paths.

Every query starts from ``request.organization``, so another organization's objects answer 404.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from lumisync.accounts.decorators import organization_required
from lumisync.subscribers.forms import CampaignForm, OptInPathForm
from lumisync.subscribers.models import Profile, Subscription
from lumisync.subscribers.phones import InvalidPhoneNumber, normalize_phone
from lumisync.subscribers.services import compliance_warnings, consent_history_csv

PROFILES_PER_PAGE = 50
MESSAGES_SHOWN = 100
SYNC_RECORDS_SHOWN = 100
PHONE_CHARACTERS = re.compile(r"^[\d\s().+\-]+$")


def search_profiles(organization, query: str):
    """Profiles of ``organization`` matching a mobile number (any common format), email, name or constituent ID."""
    profiles = organization.profiles.order_by("-created_at", "-id")
    query = query.strip()
    if not query:
        return profiles
    matches = Q(email__icontains=query) | Q(constituent_id=query)
    try:
        matches |= Q(phone_number=normalize_phone(query, organization.phone_region))
    except InvalidPhoneNumber:
        digits = re.sub(r"\D", "", query)
        # A fragment of a number ("0143", "555-01") is matched by its digits as stored.
        if PHONE_CHARACTERS.match(query) and len(digits) >= 4:
            matches |= Q(phone_number__contains=digits)
    words = query.split()
    name_match = Q()
    for word in words:
        name_match &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return profiles.filter(matches | name_match)


@organization_required
def profile_list(request):
    query = request.GET.get("q", "")
    page = Paginator(search_profiles(request.organization, query), PROFILES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "subscribers/profile_list.html", {"page": page, "query": query.strip()})


def _profile(request, pk: int) -> Profile:
    return get_object_or_404(request.organization.profiles, pk=pk)


@organization_required
def profile_detail(request, pk: int):
    profile = _profile(request, pk)
    context = {
        "profile": profile,
        "subscriptions": profile.subscriptions.select_related(
            "campaign", "opt_in_path", "activated_by", "opted_out_by"
        ).order_by("campaign__name"),
        "consent_events": profile.consent_events.select_related("campaign", "opt_in_path").order_by(
            "-occurred_at", "-id"
        ),
        "donations": profile.donations.order_by("-donated_at", "-id"),
        "calls": profile.calls.order_by("-started_at", "-id"),
        "messages_sent": profile.messages.select_related("subscription__campaign").order_by(
            "-created_at", "-id"
        )[:MESSAGES_SHOWN],
        "message_count": profile.messages.count(),
        "messages_shown": MESSAGES_SHOWN,
        # Previews write nothing, so only real runs are this profile's sync history; a run that moved the
        # link off this profile wrote its row on the new number's profile.
        "sync_records": (profile.sync_records.all() | profile.sync_records_moved_from.all())
        .filter(run__dry_run=False)
        .select_related("run")
        .order_by("-run__started_at", "-id")[:SYNC_RECORDS_SHOWN],
        "sync_records_shown": SYNC_RECORDS_SHOWN,
        "links_not_found": profile.link_snapshots.filter(not_found_at__isnull=False).order_by(
            "constituent_id"
        ),
    }
    return render(request, "subscribers/profile_detail.html", context)


@organization_required
def profile_consent_csv(request, pk: int):
    profile = _profile(request, pk)
    response = HttpResponse(consent_history_csv(profile), content_type="text/csv; charset=utf-8")
    filename = f"consent-history-{profile.phone_number.lstrip('+')}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@organization_required
def campaign_list(request):
    campaigns = request.organization.campaigns.annotate(
        active_subscribers=Count("subscriptions", filter=Q(subscriptions__status=Subscription.Status.ACTIVE))
    ).prefetch_related("opt_in_paths")
    return render(request, "subscribers/campaign_list.html", {"campaigns": campaigns})


def _save(request, form, success: str):
    """Save ``form`` whole or not at all; returns the saved object or None when the form is invalid."""
    if request.method != "POST" or not form.is_valid():
        return None
    with transaction.atomic():
        saved = form.save()
    messages.success(request, success.format(saved))
    return saved


@organization_required
def campaign_create(request):
    form = CampaignForm(request.POST or None, organization=request.organization)
    if campaign := _save(request, form, "Campaign {} created."):
        return redirect("subscribers:campaign_edit", pk=campaign.pk)
    return render(request, "subscribers/campaign_form.html", {"form": form})


@organization_required
def campaign_edit(request, pk: int):
    campaign = get_object_or_404(request.organization.campaigns, pk=pk)
    form = CampaignForm(request.POST or None, instance=campaign, organization=request.organization)
    if _save(request, form, "Campaign {} saved."):
        return redirect("subscribers:campaign_edit", pk=campaign.pk)
    paths = campaign.opt_in_paths.order_by("name")
    return render(
        request, "subscribers/campaign_form.html", {"form": form, "campaign": campaign, "paths": paths}
    )


def _warn_about_compliance(request, path) -> None:
    for label, text in (
        ("Welcome message", path.welcome_message),
        ("Confirmation prompt", path.confirmation_prompt),
    ):
        if text.strip():
            for warning in compliance_warnings(text):
                messages.warning(request, f"{label}: {warning}")


@organization_required
def path_create(request, campaign_pk: int):
    campaign = get_object_or_404(request.organization.campaigns, pk=campaign_pk)
    form = OptInPathForm(
        request.POST or None, organization=request.organization, initial={"campaign": campaign}
    )
    if path := _save(request, form, "Opt-in path {} created."):
        _warn_about_compliance(request, path)
        return redirect("subscribers:path_edit", pk=path.pk)
    return render(request, "subscribers/path_form.html", {"form": form, "campaign": campaign})


@organization_required
def path_edit(request, pk: int):
    path = get_object_or_404(request.organization.opt_in_paths.select_related("campaign"), pk=pk)
    form = OptInPathForm(request.POST or None, instance=path, organization=request.organization)
    if _save(request, form, "Opt-in path {} saved."):
        _warn_about_compliance(request, path)
        return redirect("subscribers:path_edit", pk=path.pk)
    return render(
        request, "subscribers/path_form.html", {"form": form, "campaign": path.campaign, "path": path}
    )
