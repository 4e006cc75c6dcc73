from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_save


class DatasyncConfig(AppConfig):
    name = "lumisync.datasync"
    label = "datasync"
    verbose_name = "Data Sync"

    def ready(self):
        from lumisync.subscribers.models import ConsentEvent

        post_save.connect(_consent_event_saved, sender=ConsentEvent, dispatch_uid="datasync-near-real-time")


def _consent_event_saved(sender, instance, created, **kwargs):
    from lumisync.datasync.engine.schedule import consent_changed
    from lumisync.subscribers.models import Channel, ConsentEvent

    # What the inbound sync did is never exported, and an unconfirmed opt-in exports nothing: no need to run.
    if not created or instance.channel == Channel.LUMINATE or instance.kind == ConsentEvent.Kind.PENDING:
        return
    transaction.on_commit(lambda: consent_changed(instance.organization_id))
