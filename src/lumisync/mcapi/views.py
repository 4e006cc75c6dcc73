"""Views: the Mobile Commons-compatible API, the public web opt-in, and the Administrators' pages.

The API and the public endpoints never read a browser session and are exempt from CSRF: the API
authenticates each call itself, and the public endpoints change nothing a visitor's cookie could vouch for.
"""

from __future__ import annotations

import logging
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lumisync.accounts.decorators import administrator_required
from lumisync.accounts.throttling import client_address
from lumisync.mcapi import auth, mcxml, ratelimit, services, webjoin
from lumisync.mcapi.errors import (
    INVALID_CAMPAIGN,
    INVALID_PARAMETER,
    INVALID_SUBSCRIPTION,
    TITLES,
    ApiError,
    HttpProblem,
)
from lumisync.mcapi.forms import ApiKeyForm, DonationSnippetForm, WebSettingsForm
from lumisync.mcapi.models import ApiKey, DonationFormSnippet
from lumisync.mcapi.params import Params, merged
from lumisync.mcapi.snippet import render_snippet
from lumisync.subscribers.models import Call, Channel

log = logging.getLogger(__name__)

UPDATE_RESERVED = frozenset({"phone_number", "opt_in_path_id", "company", "format"})

# Anyone may post a join: the answer is the same whatever the numbers given were before (subscribed,
# waiting for a YES, opted out or unknown), for the person and for the friends they named.
JOIN_ANSWER = {"success": True}


def problem_page(problem: HttpProblem) -> HttpResponse:
    response = render(
        None,
        "mcapi/http_error.html",
        {"status": problem.status, "title": problem.title, "message": problem.message},
        status=problem.status,
    )
    for name, value in problem.headers.items():
        response[name] = value
    return response


def api_endpoint(*methods: str):
    """Authenticate, rate-limit and answer in Mobile Commons' XML; refusals as XML errors or HTML pages."""

    def decorate(handler):
        @csrf_exempt
        @wraps(handler)
        def view(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise HttpProblem(
                        405,
                        "Method Not Allowed",
                        f"{request.path} answers {' or '.join(methods)}, not {request.method}.",
                        {"Allow": ", ".join(methods)},
                    )
                data = merged(request)
                caller = auth.authenticate(request, (data.get("company") or "").strip())
                auth.check_rate(caller)
                return handler(request, Params(data, caller.organization), caller, *args, **kwargs)
            except ApiError as error:
                return mcxml.error_response(error)
            except HttpProblem as problem:
                return problem_page(problem)
            except Exception:
                log.exception("API call %s %s failed", request.method, request.path)
                return problem_page(
                    HttpProblem(500, "Internal Server Error", "The call failed on the server; it was logged.")
                )

        return view

    return decorate


@api_endpoint("GET", "POST")
def profiles(request, params: Params, caller):
    limit, page = params.paging()
    with_subscriptions = params.flag("include_subscriptions", True)
    found = services.list_profiles(
        caller.organization,
        phones=params.phones(),
        updated_from=params.moment("from"),
        updated_to=params.moment("to", end_of_day=True),
        limit=limit,
        page=page,
        with_subscriptions=with_subscriptions,
    )
    return mcxml.response(
        mcxml.profiles_element(
            found,
            page=page,
            custom_columns=params.flag("include_custom_columns", True),
            subscriptions=with_subscriptions,
        )
    )


@api_endpoint("GET", "POST")
def profile(request, params: Params, caller):
    found = services.find_profile(caller.organization, params.phone())
    return mcxml.response(mcxml.profile_element(found))


@api_endpoint("POST")
def profile_update(request, params: Params, caller):
    phone = params.phone()
    path_ref = params.text("opt_in_path_id")
    path = services.joinable_path(caller.organization, path_ref) if path_ref else None
    person = services.split_fields(
        {key: params.data.get(key, "") for key in params.data}, ignore=UPDATE_RESERVED
    )
    person.phone = phone
    saved, _ = services.save_person(
        caller.organization, person, channel=Channel.API, source_detail="API profile_update"
    )
    if path is not None:
        services.opt_in(
            saved, path, channel=Channel.API, actor=caller.actor, source_detail="API profile_update"
        )
    return mcxml.response(mcxml.profile_element(services.reload_profile(saved)))


@api_endpoint("POST")
def profile_opt_out(request, params: Params, caller):
    found = services.find_profile(caller.organization, params.phone())
    campaign_id = params.optional_id("campaign_id", INVALID_CAMPAIGN)
    subscription_id = params.optional_id("subscription_id", INVALID_SUBSCRIPTION)
    services.opt_out(
        caller.organization,
        found,
        campaign_id=campaign_id,
        subscription_id=subscription_id,
        actor=caller.actor,
    )
    return mcxml.response(mcxml.profile_element(services.reload_profile(found)))


@api_endpoint("GET", "POST")
def campaigns(request, params: Params, caller):
    with_paths = params.flag("include_opt_in_paths", False)
    element = mcxml.Element("campaigns")
    for campaign in services.list_campaigns(caller.organization, with_opt_in_paths=with_paths):
        element.append(mcxml.campaign_element(campaign, opt_in_paths=with_paths))
    return mcxml.response(element)


@api_endpoint("GET", "POST")
def campaign_subscribers(request, params: Params, caller):
    campaign = services.campaign_of(caller.organization, params.required_id("campaign_id", INVALID_CAMPAIGN))
    path_ref = params.text("opt_in_path_id")
    path = services.opt_in_path_of(caller.organization, path_ref) if path_ref else None
    limit, page = params.paging()
    found = services.list_subscribers(
        campaign,
        opt_in_path=path,
        updated_from=params.moment("from"),
        updated_to=params.moment("to", end_of_day=True),
        limit=limit,
        page=page,
    )
    element = mcxml.Element("subscriptions", num=str(len(found)), page=str(page))
    element.extend(mcxml.subscriber_element(sub) for sub in found)
    return mcxml.response(element)


@api_endpoint("POST")
def calls(request, params: Params, caller):
    started_at = params.moment("started_at") or params.moment("start_time")
    if started_at is None:
        raise ApiError(INVALID_PARAMETER, "started_at is required (ISO-8601 date-time).")
    call = services.record_call(
        caller.organization,
        params.phone(),
        alert_id=params.text("alert_id", required=True),
        recipient_id=params.text("recipient_id", max_length=64),
        recipient_name=params.text("recipient_name", max_length=255),
        started_at=started_at,
        duration_seconds=params.integer("duration", default=0, minimum=0),
        status=params.text("status") or Call.Status.COMPLETED,
    )
    return mcxml.response(mcxml.call_element(call))


@csrf_exempt
def api_not_found(request, rest: str = ""):
    return problem_page(HttpProblem(404, "Not Found", f"There is no API method at {request.path}."))


# --- public endpoints ------------------------------------------------------------------------------------


def _wants_json(request, data) -> bool:
    return data.get("format") == "json" or "application/json" in request.headers.get("Accept", "")


def _own_origin(request) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _cors(response, request, organization) -> HttpResponse:
    origin = request.headers.get("Origin", "")
    if (
        origin
        and organization is not None
        and origin.rstrip("/").lower() in webjoin.web_settings(organization).origins
    ):
        response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


def _preflight(request) -> HttpResponse:
    """Preflight for script posts: allowed when some organization lists the origin."""
    origin = request.headers.get("Origin", "").rstrip("/").lower()
    response = HttpResponse(status=204)
    if origin and any(
        origin in ws.origins for ws in webjoin.WebSettings.objects.filter(allowed_origins__icontains=origin)
    ):
        response["Access-Control-Allow-Origin"] = request.headers["Origin"]
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type, Accept"
        response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


def _check_ip_rate(request) -> None:
    ratelimit.enforce(
        f"join:ip:{client_address(request) or 'unknown'}",
        per_minute=getattr(settings, "LUMISYNC_JOIN_RATE_PER_MINUTE", 20),
        burst=getattr(settings, "LUMISYNC_JOIN_BURST", 10),
        refusal="Too many sign-ups from this address; retry in {wait} s.",
    )


def _back_link(request) -> str:
    referer = request.headers.get("Referer", "")
    return referer if referer.startswith(("https://", "http://")) else ""


def _public_error(request, data, *, status: int, title: str, message: str, error_id=None, headers=None):
    if _wants_json(request, data):
        response = JsonResponse(
            {"success": False, "error": {"id": error_id, "title": title, "message": message}}, status=status
        )
    else:
        response = render(
            request,
            "mcapi/join_error.html",
            {"title": title, "message": message, "back": _back_link(request)},
            status=status,
        )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@csrf_exempt
def join(request):
    """POST /profiles/join: Mobile Commons' public web opt-in form target."""
    if request.method == "OPTIONS":
        return _preflight(request)
    data = merged(request)
    if request.method != "POST":
        return _public_error(
            request,
            data,
            status=405,
            title="Method Not Allowed",
            message="Post the form to join.",
            headers={"Allow": "POST, OPTIONS"},
        )
    organization = webjoin.organization_for_join(data)
    origin = request.headers.get("Origin", "")
    try:
        _check_ip_rate(request)
        if data.get(webjoin.HONEYPOT, "").strip():
            # Filled in by a robot: answer as if it worked, so it learns nothing, and keep nothing.
            if _wants_json(request, data):
                return JsonResponse(JOIN_ANSWER)
            return render(request, "mcapi/join_done.html", {})
        result = webjoin.join(data, origin=origin, own_origin=_own_origin(request))
    except ApiError as error:
        response = _public_error(
            request,
            data,
            status=400,
            title=TITLES[error.error_id],
            message=error.message,
            error_id=error.error_id,
        )
        return _cors(response, request, organization)
    except HttpProblem as problem:
        response = _public_error(
            request,
            data,
            status=problem.status,
            title=problem.title,
            message=problem.message,
            headers=problem.headers,
        )
        return _cors(response, request, organization)
    if _wants_json(request, data):
        response = JsonResponse(JOIN_ANSWER)
    elif result.redirect_to:
        response = redirect(result.redirect_to)
    else:
        response = render(request, "mcapi/join_done.html", {})
    return _cors(response, request, result.organization)


@csrf_exempt
def donation(request):
    """POST /profiles/donation: the thank-you page reports a completed gift."""
    if request.method == "OPTIONS":
        return _preflight(request)
    data = merged(request)
    if request.method != "POST":
        return JsonResponse({"success": False, "error": {"message": "Post the gift."}}, status=405)
    organization = None
    try:
        _check_ip_rate(request)
        snippet = webjoin.snippet_for(
            data, origin=request.headers.get("Origin", ""), own_origin=_own_origin(request)
        )
        organization = snippet.organization
        webjoin.record_gift(snippet, data)
    except ApiError as error:
        response = JsonResponse(
            {"success": False, "error": {"id": error.error_id, "message": error.message}}, status=400
        )
        return _cors(response, request, organization)
    except HttpProblem as problem:
        response = JsonResponse(
            {"success": False, "error": {"message": problem.message}}, status=problem.status
        )
        for name, value in problem.headers.items():
            response[name] = value
        return _cors(response, request, organization)
    # The snippet key is public: the answer says nothing of who the donor is or what was stored before.
    return _cors(JsonResponse({"success": True}), request, organization)


# --- Administrators' pages -------------------------------------------------------------------------------


@administrator_required
def api_keys(request):
    organization = request.organization
    new_token = None
    if request.method == "POST":
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            key, new_token = ApiKey.issue(organization, form.cleaned_data["name"], created_by=request.user)
            log.info("API key %s… created for %s by %s", key.prefix, organization.slug, request.user)
            form = ApiKeyForm()
    else:
        form = ApiKeyForm()
    keys = organization.api_keys.select_related("created_by")
    return render(request, "mcapi/api_keys.html", {"form": form, "keys": keys, "new_token": new_token})


@administrator_required
@require_POST
def revoke_api_key(request, pk: int):
    key = get_object_or_404(ApiKey, pk=pk, organization=request.organization)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        messages.success(request, f"The key {key.prefix}… ({key.name}) is revoked; calls with it now fail.")
    return redirect("mcapi:api_keys")


@administrator_required
def donation_forms(request):
    """Mapping Convio Luminate donation forms: settings and the two-part snippet to paste."""
    snippet, _ = DonationFormSnippet.objects.get_or_create(organization=request.organization)
    if request.method == "POST":
        form = DonationSnippetForm(request.POST, instance=snippet)
        if form.is_valid():
            form.save()
            messages.success(
                request, "Saved. Paste the updated snippet into your donation form and thank-you page."
            )
            return redirect("mcapi:donation_forms")
    else:
        form = DonationSnippetForm(instance=snippet)
    base = request.build_absolute_uri("/")
    return render(
        request,
        "mcapi/donation_forms.html",
        {"form": form, "snippet": snippet, "parts": render_snippet(snippet, base)},
    )


@administrator_required
def web_opt_in_settings(request):
    settings_row = webjoin.web_settings(request.organization)
    if request.method == "POST":
        form = WebSettingsForm(request.POST, instance=settings_row)
        if form.is_valid():
            form.save()
            messages.success(request, "Web opt-in settings saved.")
            return redirect("mcapi:web_opt_in_settings")
    else:
        form = WebSettingsForm(instance=settings_row)
    return render(request, "mcapi/web_opt_in_settings.html", {"form": form})
