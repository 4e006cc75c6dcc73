from django.urls import include, path

urlpatterns = [
    path("", include("lumisync.accounts.urls")),
    path("subscribers/", include("lumisync.subscribers.urls")),
]
