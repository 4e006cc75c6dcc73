from django.urls import path

from lumisync.messaging import views

app_name = "messaging"

urlpatterns = [
    path("inbound/", views.inbound_message, name="inbound"),
    path("status/<int:message_id>/", views.status_callback, name="status_callback"),
]
