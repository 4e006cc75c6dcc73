from django.core.management.base import BaseCommand, CommandError

from lumisync.accounts.models import Organization
from lumisync.datasync.models import Integration
from lumisync.datasync.report import summary, write_csv, write_json


class Command(BaseCommand):
    help = "Print the Synchronization report of a run (the latest by default) as a table, CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--run", type=int, help="Run ID (default: the latest run).")
        parser.add_argument("--format", choices=["table", "csv", "json"], default="table")

    def handle(self, *args, org, run, format, **options):
        if not Organization.objects.filter(slug=org).exists():
            raise CommandError(f"There is no organization {org!r}.")
        integration = Integration.objects.filter(organization__slug=org).first()
        if integration is None:
            raise CommandError(f"Organization {org!r} has no integration (see `lumisync integration`).")
        runs = integration.runs.order_by("-started_at", "-id")
        # By default the latest real run: previews (--dry-run, --one) are shown only when asked for by ID.
        chosen = runs.filter(pk=run).first() if run else runs.filter(dry_run=False).first()
        if chosen is None:
            raise CommandError(f"No run {run} for {org!r}." if run else f"{org!r} has no runs yet.")
        records = chosen.records.order_by("id").iterator()
        if format in ("csv", "json"):
            self.stdout.ending = ""
            (write_csv if format == "csv" else write_json)(records, self.stdout)
            return
        finished = (
            f"finished {chosen.finished_at:%Y-%m-%d %H:%M:%S} UTC" if chosen.finished_at else "not finished"
        )
        preview = "  (preview: nothing was written)" if chosen.dry_run else ""
        self.stdout.write(
            f"Run {chosen.pk}  {chosen.get_direction_display()}  {chosen.get_status_display()}{preview}  "
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
