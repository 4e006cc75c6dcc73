from django.apps import AppConfig


class DatasyncConfig(AppConfig):
    name = "lumisync.datasync"
    label = "datasync"
    verbose_name = "Data Sync"
