from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from waitress import serve

from lumisync.core.periodic import PeriodicRunner


class Command(BaseCommand):
    help = "Run the web app and the background work (message sending, sync schedules) in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument("--no-migrate", action="store_true", help="Do not apply migrations at start.")
        parser.add_argument("--no-background", action="store_true", help="Serve pages only.")

    def handle(self, *args, host, port, threads, no_migrate, no_background, **options):
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        runner = None
        if not no_background:
            runner = PeriodicRunner(settings.LUMISYNC_PERIODIC_TASKS)
            runner.start()
        from lumisync.wsgi import application

        self.stdout.write(f"lumisync is serving on http://{host}:{port}/ (Ctrl-C stops it)")
        try:
            serve(application, host=host, port=port, threads=threads, ident="lumisync")
        finally:
            if runner is not None:
                runner.stop()
