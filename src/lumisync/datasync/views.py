"""Data Sync set-up pages, for Administrators of the organization the request acts for.

Every query starts from ``request.organization``: another organization's integration is simply not there.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from lumisync.accounts.decorators import administrator_required
from lumisync.datasync import services
from lumisync.datasync.engine.context import load_context
from lumisync.datasync.forms import (
    ActivationForm,
    CreateIntegrationForm,
    GroupPathFormSet,
    IntegrationForm,
    MappingsForm,
    TryConstituentForm,
    choosable_web_paths,
)
from lumisync.datasync.models import AuditEntry, Integration
from lumisync.datasync.pages import integration_for, render_page
from lumisync.datasync.preflight import run_connection_test
from lumisync.subscribers.models import Campaign


def _actor(request) -> services.Actor:
    return services.Actor.of(request.user)


def _warn_if_running_untested(request, integration: Integration) -> None:
    """A save left an active sync on settings Test Connection has not passed: say so. The sync keeps
    running (deactivating is the Administrator's call), so the warning is all that happens."""
    if services.runs_untested(integration):
        messages.warning(request, services.UNTESTED_WHILE_ACTIVE)


def _shown(value, choices: dict) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(choices.get(value, value) if isinstance(value, str) else value)


def _choices_of(name: str) -> dict:
    try:
        return dict(Integration._meta.get_field(name).flatchoices)
    except FieldDoesNotExist:
        return {}


def _audit_rows(entries) -> list[AuditEntry]:
    """The entries with ``change_rows``: (label, before, after) as the configuration form names them.

    A settings entry's stored summary only lists the changed fields' internal names, which its change
    rows already give by label, so ``shown_summary`` leaves it out.
    """
    labels = IntegrationForm.Meta.labels
    rows = list(entries)
    for entry in rows:
        entry.shown_summary = "" if entry.action == AuditEntry.Action.SETTINGS else entry.summary
        entry.change_rows = []
        for name, (old, new) in entry.changes.items():
            label = labels.get(name) or (name[:1].upper() + name[1:]).replace("_", " ")
            choices = _choices_of(name)
            entry.change_rows.append((label, _shown(old, choices), _shown(new, choices)))
    return rows


@administrator_required
@require_http_methods(["GET", "POST"])
def home(request):
    integration = Integration.objects.filter(organization=request.organization).first()
    if integration is None:
        form = CreateIntegrationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            services.create_integration(
                request.organization, _actor(request), form.cleaned_data["integration_type"]
            )
            messages.success(request, "Integration created. Configure it next.")
            return redirect("datasync:configure")
        return render(request, "datasync/create.html", {"form": form})
    return render_page(
        request,
        "datasync/home.html",
        integration,
        audit=_audit_rows(integration.audit_entries.select_related("actor")[:10]),
        next_run=services.next_inbound_run(integration) if integration.active else "",
        ip_addresses=services.api_ip_addresses(),
        synced_campaigns=Campaign.objects.filter(
            pk__in=load_context(integration).synced_campaign_ids
        ).order_by("name"),
    )


# The API host and export URL too: a password typed into either is refused, but it was posted.
@sensitive_post_parameters(*services.SECRET_FIELDS, "export_url", "api_host")
@administrator_required
@require_http_methods(["GET", "POST"])
def configure(request):
    integration = integration_for(request)
    # The form gets its own copy: validating writes the submitted values into its instance, and the page
    # around the form must keep showing the stored state.
    form = IntegrationForm(request.POST or None, instance=integration_for(request))
    if request.method == "POST" and form.is_valid():
        changed = services.apply_settings(
            integration,
            form.settings_values(),
            _actor(request),
            sms_consent_confirmed=form.cleaned_data.get("confirm_sms_consent", False),
        )
        messages.success(request, "Settings saved." if changed else "Nothing changed.")
        if changed:
            _warn_if_running_untested(request, integration)
        return redirect("datasync:home")
    return render_page(request, "datasync/configure.html", integration, form=form)


@administrator_required
@require_http_methods(["GET", "POST"])
def field_mappings(request):
    integration = integration_for(request)
    form = MappingsForm(request.POST or None, integration=integration)
    if request.method == "POST" and form.is_valid():
        changed = services.save_mappings(integration, form.changes(), _actor(request))
        messages.success(
            request,
            "Field mappings saved. Run Test Connection to check them." if changed else "Nothing changed.",
        )
        if changed:
            _warn_if_running_untested(request, integration)
        return redirect("datasync:field_mappings")
    return render_page(request, "datasync/mappings.html", integration, form=form)


@administrator_required
@require_http_methods(["GET", "POST"])
def group_paths(request):
    integration = integration_for(request)
    groups, problem = services.luminate_groups(integration)
    # Keep already-mapped groups choosable even if listGroups failed or no longer lists them.
    known = {gid for gid, _name in groups}
    for row in integration.group_paths.all():
        if row.group_id not in known:
            groups.append((row.group_id, f"{row.group_name or row.group_id} (not listed by Luminate now)"))
    paths = choosable_web_paths(
        request.organization, stored=integration.group_paths.values_list("opt_in_path_id", flat=True)
    )
    initial = [
        {"group": row.group_id, "opt_in_path": row.opt_in_path_id} for row in integration.group_paths.all()
    ]
    formset = GroupPathFormSet(
        request.POST or None, initial=initial, form_kwargs={"groups": groups, "paths": paths}, prefix="paths"
    )
    if request.method == "POST" and formset.is_valid():
        changed = services.save_group_paths(integration, formset.rows(), _actor(request))
        messages.success(request, "Group opt-in paths saved." if changed else "Nothing changed.")
        return redirect("datasync:group_paths")
    return render_page(request, "datasync/group_paths.html", integration, formset=formset, problem=problem)


@administrator_required
@require_http_methods(["GET", "POST"])
def test_connection(request):
    integration = integration_for(request)
    if request.method == "POST":
        checks = run_connection_test(integration, _actor(request))
        if all(check.passed for check in checks):
            messages.success(request, "Test Connection passed.")
        else:
            messages.error(request, "Test Connection failed: see the fixes below.")
        return redirect("datasync:test_connection")
    return render_page(
        request,
        "datasync/test.html",
        integration,
        checks=integration.last_test_results,
        try_form=TryConstituentForm(),
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def activate(request):
    integration = integration_for(request)
    first = integration.first_activated_at is None
    form = ActivationForm(request.POST or None) if first else None
    if request.method == "POST" and (form is None or form.is_valid()):
        answers = form.answers() if form is not None else {}
        try:
            integration = services.activate(integration, _actor(request), **answers)
        except services.ActivationRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"Integration active. The first sync runs {services.next_inbound_run(integration)}."
            )
            return redirect("datasync:home")
    return render_page(
        request,
        "datasync/activate.html",
        integration,
        form=form,
        numbers=services.activation_numbers(integration) if first else None,
        next_run=services.next_inbound_run(integration),
    )


@administrator_required
@require_POST
def deactivate(request):
    integration = integration_for(request)
    try:
        services.deactivate(integration, _actor(request))
    except services.ActivationRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "Integration inactive. Nothing is lost: reactivating picks up where it stopped."
        )
    return redirect("datasync:home")


@administrator_required
def audit_log(request):
    integration = integration_for(request)
    return render_page(
        request,
        "datasync/audit.html",
        integration,
        audit=_audit_rows(integration.audit_entries.select_related("actor")[:500]),
    )
