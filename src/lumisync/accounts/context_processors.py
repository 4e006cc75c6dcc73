def organization(request):
    """The organization a page acts for, and the user's memberships for the organization switcher."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "current_membership": getattr(request, "membership", None),
        "current_organization": getattr(request, "organization", None),
        "user_memberships": (
            user.memberships.select_related("organization").order_by("organization__name")
            if signed_in
            else []
        ),
    }
