from django.contrib.auth.views import LogoutView
from django.urls import path

from lumisync.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("organization/switch/", views.switch_organization, name="switch_organization"),
    path("organization/settings/", views.organization_settings, name="organization_settings"),
]
