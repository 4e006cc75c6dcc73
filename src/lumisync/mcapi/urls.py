from django.urls import path, re_path

from lumisync.mcapi import views

app_name = "mcapi"

urlpatterns = [
    path("api/profiles", views.profiles, name="profiles"),
    path("api/profile", views.profile, name="profile"),
    path("api/profile_update", views.profile_update, name="profile_update"),
    path("api/profile_opt_out", views.profile_opt_out, name="profile_opt_out"),
    path("api/campaigns", views.campaigns, name="campaigns"),
    path("api/campaign_subscribers", views.campaign_subscribers, name="campaign_subscribers"),
    path("api/calls", views.calls, name="calls"),
    re_path(r"^api/(?P<rest>.*)$", views.api_not_found, name="api_not_found"),
    path("profiles/join", views.join, name="join"),
    path("profiles/donation", views.donation, name="donation"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", views.revoke_api_key, name="revoke_api_key"),
    path("donation-forms/", views.donation_forms, name="donation_forms"),
    path("web-opt-in/", views.web_opt_in_settings, name="web_opt_in_settings"),
]
