from django.apps import AppConfig


class McapiConfig(AppConfig):
    name = "lumisync.mcapi"
    label = "mcapi"
    verbose_name = "Mobile Commons-compatible API"
