"""Which organization a signed-in request acts for."""

from __future__ import annotations

SESSION_KEY = "lumisync_organization_id"


def _membership_for(request):
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = user.memberships.select_related("organization").order_by("organization__name")
    chosen = request.session.get(SESSION_KEY)
    if chosen is not None:
        membership = memberships.filter(organization_id=chosen).first()
        if membership is not None:
            return membership
    return memberships.first()


class CurrentOrganizationMiddleware:
    """Sets ``request.membership`` and ``request.organization`` (None when signed out or in no organization).

    Every organization-scoped query starts from ``request.organization``, so another tenant's objects are
    simply not found (404) rather than forbidden.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = _membership_for(request)
        request.organization = request.membership.organization if request.membership else None
        return self.get_response(request)
