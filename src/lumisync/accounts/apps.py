from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "lumisync.accounts"
    label = "accounts"
    verbose_name = "Organizations and people"
