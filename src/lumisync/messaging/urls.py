from django.urls import path

from lumisync.messaging import views

app_name = "messaging"

urlpatterns = [
    path("inbound/", views.inbound_message, name="inbound"),
    path("status/<int:message_id>/", views.status_callback, name="status_callback"),
    path("provider/", views.provider_settings, name="provider"),
    path("provider/test/", views.send_test_message, name="send_test_message"),
    path("provider/test/<int:pk>/", views.test_message, name="test_message"),
]
