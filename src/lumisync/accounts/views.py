"""Sign-in, the dashboard, switching organization and the organization's own settings."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from lumisync.accounts.decorators import administrator_required, organization_required
from lumisync.accounts.forms import OrganizationSettingsForm, ThrottledAuthenticationForm
from lumisync.accounts.middleware import SESSION_KEY
from lumisync.accounts.models import Organization
from lumisync.subscribers.models import ConsentEvent, Subscription


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True


@organization_required
def dashboard(request):
    organization = request.organization
    week_ago = timezone.now() - timedelta(days=7)
    counts = {
        "profiles": organization.profiles.count(),
        "active_subscribers": organization.profiles.filter(
            opted_out_at__isnull=True, subscriptions__status=Subscription.Status.ACTIVE
        )
        .distinct()
        .count(),
        "campaigns": organization.campaigns.count(),
        "recent_opt_ins": organization.consent_events.filter(
            kind=ConsentEvent.Kind.OPT_IN, occurred_at__gte=week_ago
        ).count(),
    }
    return render(request, "accounts/dashboard.html", {"counts": counts})


@require_POST
@organization_required
def switch_organization(request):
    chosen = request.POST.get("organization", "")
    membership = (
        request.user.memberships.select_related("organization").filter(organization_id=chosen).first()
        if chosen.isdigit()
        else None
    )
    if membership is None:
        raise Http404("You are not a member of that organization.")
    request.session[SESSION_KEY] = membership.organization_id
    messages.success(request, f"Now working in {membership.organization}.")
    return redirect("accounts:dashboard")


@administrator_required
def organization_settings(request):
    # The form gets its own copy: validating writes the submitted values into its instance, and the page
    # around the form (its name in the top bar, its time zone) must keep showing the stored state.
    organization = Organization.objects.get(pk=request.organization.pk)
    form = OrganizationSettingsForm(request.POST or None, instance=organization)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
        messages.success(request, "Organization settings saved.")
        return redirect("accounts:organization_settings")
    return render(request, "accounts/organization_settings.html", {"form": form})
