"""What every Data Sync page starts from: the integration of the organization the request acts for."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from lumisync.datasync.models import Integration


def integration_for(request) -> Integration:
    """The integration of ``request.organization``; another organization's is simply not there (404)."""
    integration = (
        Integration.objects.select_related("organization").filter(organization=request.organization).first()
    )
    if integration is None:
        raise Http404("This organization has no integration yet.")
    return integration


def render_page(request, template: str, integration: Integration, **context):
    """``template`` inside the Data Sync layout, whose state badge and action panel read ``integration``."""
    return render(request, template, {"integration": integration, **context})
