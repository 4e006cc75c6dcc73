from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "lumisync.core"
    label = "core"
    verbose_name = "lumisync core"
