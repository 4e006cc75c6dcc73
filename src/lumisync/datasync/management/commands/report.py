import sys

from django.core.management.base import BaseCommand, CommandError

from lumisync.datasync.models import Integration
from lumisync.datasync.report import summary, write_csv, write_json


class Command(BaseCommand):
    help = "Print the Synchronization report of a run (the latest by default) as a table, CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--run", type=int, help="Run ID (default: the latest run).")
        parser.add_argument("--format", choices=["table", "csv", "json"], default="table")

    def handle(self, *args, org, run, format, **options):
        integration = Integration.objects.filter(organization__slug=org).first()
        if integration is None:
            raise CommandError(f"Organization {org!r} has no integration.")
        runs = integration.runs.order_by("-started_at", "-id")
        chosen = runs.filter(pk=run).first() if run else runs.first()
        if chosen is None:
            raise CommandError(f"No run {run} for {org!r}." if run else f"{org!r} has no runs yet.")
        records = chosen.records.order_by("id").iterator()
        if format == "csv":
            write_csv(records, sys.stdout)
            return
        if format == "json":
            write_json(records, sys.stdout)
            return
        finished = f"{chosen.finished_at:%Y-%m-%d %H:%M:%S}" if chosen.finished_at else "not finished"
        self.stdout.write(
            f"Run {chosen.pk}  {chosen.get_direction_display()}  {chosen.get_status_display()}  "
            f"started {chosen.started_at:%Y-%m-%d %H:%M:%S} UTC, {finished}"
        )
        for category, count in summary(chosen):
            if count:
                self.stdout.write(f"  {category:<22} {count:>8}")
        self.stdout.write("")
        self.stdout.write(f"{'Constituent':<12} {'Mobile':<16} {'Name':<24} {'Category':<22} Reason")
        for record in records:
            name = f"{record.first_name} {record.last_name}".strip()[:24]
            self.stdout.write(
                f"{record.constituent_id:<12} {record.mobile:<16} {name:<24} {record.category:<22} {record.reason}"
            )
