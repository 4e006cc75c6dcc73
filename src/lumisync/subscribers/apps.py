from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "lumisync.subscribers"
    label = "subscribers"
    verbose_name = "Subscriber platform"
