import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lumisync.datasync.engine.context import site_config
from lumisync.datasync.engine.inbound import InboundOptions
from lumisync.datasync.engine.locks import RunInProgress
from lumisync.datasync.engine.outbound import OutboundOptions
from lumisync.datasync.engine.schedule import run_sync
from lumisync.datasync.models import Direction, Integration, SyncRun
from lumisync.datasync.report import summary
from lumisync.datasync.sites import luminate_client
from lumisync.luminate import LuminateError


class Progress:
    """A one-line progress bar on a terminal: records done of total, rate and time left."""

    def __init__(self, stream):
        self.stream = stream
        self.started = time.monotonic()
        self.enabled = stream.isatty()

    def __call__(self, run: SyncRun) -> None:
        if not self.enabled or not run.total:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = run.done / elapsed
        left = (run.total - run.done) / rate if rate else 0
        filled = int(30 * run.done / run.total)
        self.stream.write(
            f"\r[{'#' * filled}{'-' * (30 - filled)}] {run.done}/{run.total}  {rate:,.0f}/s  {left:,.0f} s left "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Run the inbound (Luminate → platform) or outbound (platform → Luminate) sync now."

    def add_arguments(self, parser):
        parser.add_argument("direction", choices=["inbound", "outbound"])
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--dry-run", action="store_true", help="Preview: write nothing on either side.")
        parser.add_argument(
            "--file", action="append", default=[], help="Read this changed-records file instead."
        )
        parser.add_argument("--initial", action="store_true", help="Initial load from a full export file.")
        parser.add_argument(
            "--one", help="Show what the inbound sync would do with one constituent ID or email."
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even though the integration is inactive."
        )

    def handle(self, *args, direction, org, dry_run, file, initial, one, force, **options):
        try:
            integration = Integration.objects.select_related("organization").get(organization__slug=org)
        except Integration.DoesNotExist:
            raise CommandError(
                f"Organization {org!r} has no integration (see `lumisync integration`)."
            ) from None
        writes = not (dry_run or one)
        if writes and not integration.active:
            self._refuse_inactive(integration, direction, force=force)
        progress = Progress(sys.stderr)
        try:
            if direction == Direction.OUTBOUND:
                engine_options = OutboundOptions(dry_run=dry_run, while_inactive=force, progress=progress)
            else:
                only = (self._constituent_id(integration, one),) if one else ()
                files = tuple(Path(name) for name in file)
                for path in files:
                    if not path.is_file():
                        raise CommandError(f"--file {path}: no such file.")
                engine_options = InboundOptions(
                    dry_run=dry_run or bool(one),
                    initial=initial,
                    files=files,
                    only_ids=only,
                    progress=progress,
                )
            run = run_sync(integration, direction, engine_options)
        except RunInProgress as exc:
            raise CommandError(str(exc)) from None
        finally:
            progress.close()
        self._print(run, detailed=bool(one))
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"Run {run.pk} failed: {run.error}")

    @staticmethod
    def _refuse_inactive(integration: Integration, direction: str, *, force: bool) -> None:
        if not force:
            raise CommandError(
                f"The integration of {integration.organization.slug} is inactive: activate it first "
                f"(`lumisync integration activate --org {integration.organization.slug}`), preview with "
                "--dry-run, or give --force to run it anyway."
            )
        if direction == Direction.OUTBOUND and integration.outbound_start_event_id is None:
            # Which earlier opt-ins go to Luminate is the first activation's question: never guess it.
            raise CommandError(
                "The integration was never activated, and its first activation decides whether the earlier "
                "opt-ins are sent to Luminate: activate it first (--force cannot answer that)."
            )

    def _constituent_id(self, integration, value: str) -> str:
        if value.isdigit():
            return value
        try:
            with luminate_client(site_config(integration)) as client:
                return str(client.get_user(primary_email=value)["cons_id"])
        except LuminateError as exc:
            raise CommandError(f"--one {value}: {exc}") from None

    def _print(self, run: SyncRun, *, detailed: bool) -> None:
        mode = " (preview: nothing written)" if run.dry_run else ""
        self.stdout.write(f"Run {run.pk}: {run.get_direction_display()}{mode}, {run.get_status_display()}")
        if run.error:
            self.stdout.write(f"  {run.error}")
        width = max(len(category) for category, _count in summary(run))
        for category, count in summary(run):
            if count:
                self.stdout.write(f"  {category:<{width}}  {count:>8}")
        self.stdout.write(f"  {'Total':<{width}}  {run.done:>8}")
        if run.dry_run and run.would_text_without_opt_in:
            self.stdout.write(
                f"  Would text {run.would_text_without_opt_in} people with no opt-in in Luminate."
            )
        if detailed:
            for record in run.records.all():
                self.stdout.write(f"  {record.constituent_id}: {record.category}. {record.reason}")
