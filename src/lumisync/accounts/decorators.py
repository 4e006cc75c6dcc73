"""View decorators for organization-scoped pages.

``request.organization`` and ``request.membership`` come from
:class:`lumisync.accounts.middleware.CurrentOrganizationMiddleware`.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def organization_required(view):
    """Signed-in members of an organization only: others go to sign-in, members of none get 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.organization is None:
            raise PermissionDenied("Your account does not belong to any organization yet.")
        return view(request, *args, **kwargs)

    return wrapped


def administrator_required(view):
    """As :func:`organization_required`, and the member must be an Administrator of it (else 403)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.membership is not None and not request.membership.is_administrator:
            raise PermissionDenied(f"Only Administrators of {request.organization} can open this page.")
        return view(request, *args, **kwargs)

    return organization_required(wrapped)
