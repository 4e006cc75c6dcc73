from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from lumisync.core import crypto
from lumisync.core.fields import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the newest encryption key. With --new-key, first add a new key "
        "in front of the key file. Old keys keep decrypting until you remove them, so the app keeps running."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--new-key", action="store_true", help="Generate a key and put it first in the key file."
        )

    def handle(self, *args, new_key, **options):
        if new_key:
            if settings.LUMISYNC_ENCRYPTION_KEYS:
                raise CommandError(
                    "Keys come from LUMISYNC_ENCRYPTION_KEYS: put a new key (made with "
                    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`) "
                    "first in that variable, restart, then run rotate-keys without --new-key."
                )
            path = Path(settings.LUMISYNC_KEY_FILE)
            crypto.add_key_to_file(path)
            crypto._keyring.cache_clear()
            self.stdout.write(f"Added a new key in front of {path}.")
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            with transaction.atomic():
                for row in model.objects.only("pk", *fields).iterator():
                    values = {name: getattr(row, name) for name in fields if getattr(row, name)}
                    if values:
                        model.objects.filter(pk=row.pk).update(**values)
                        total += len(values)
        self.stdout.write(f"Re-encrypted {total} secret(s) with the newest key.")
