from django.core.management.base import BaseCommand, CommandError

from lumisync.datasync.engine.inbound import skip_changed_file
from lumisync.datasync.models import Integration
from lumisync.datasync.services import Actor
from lumisync.luminate.files import ChangedFileError


class Command(BaseCommand):
    help = (
        "Skip an unreadable changed-records file: it is remembered as processed without being read, so the "
        "nightly sync goes on with the next files. Audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The file's name on the file server.")
        parser.add_argument("--org", required=True, help="Organization slug.")

    def handle(self, *args, name, org, **options):
        integration = Integration.objects.filter(organization__slug=org).first()
        if integration is None:
            raise CommandError(f"Organization {org!r} has no integration.")
        try:
            skipped = skip_changed_file(integration, name, Actor("command line"))
        except (ValueError, ChangedFileError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Skipped {skipped.name} ({skipped.size} bytes); later runs go on without it.")
