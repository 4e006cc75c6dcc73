from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "lumisync.messaging"
    label = "messaging"
    verbose_name = "Messages"
