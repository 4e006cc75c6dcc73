from django.urls import include, path

urlpatterns = [
    path("", include("lumisync.accounts.urls")),
    path("subscribers/", include("lumisync.subscribers.urls")),
    path("sms/", include("lumisync.messaging.urls")),
    path("datasync/", include("lumisync.datasync.urls")),
    path("", include("lumisync.mcapi.urls")),
]
