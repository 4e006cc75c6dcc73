from django.urls import path

from lumisync.subscribers import views

app_name = "subscribers"

urlpatterns = [
    path("profiles/", views.profile_list, name="profile_list"),
    path("profiles/<int:pk>/", views.profile_detail, name="profile_detail"),
    path("profiles/<int:pk>/consent-history.csv", views.profile_consent_csv, name="profile_consent_csv"),
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:campaign_pk>/paths/new/", views.path_create, name="path_create"),
    path("paths/<int:pk>/", views.path_edit, name="path_edit"),
]
