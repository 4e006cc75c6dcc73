import secrets
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from lumisync.accounts.models import Membership, Organization, Role
from lumisync.core import crypto
from lumisync.datasync import services as datasync
from lumisync.datasync.engine.inbound import run_inbound
from lumisync.datasync.models import Integration, SyncType
from lumisync.datasync.preflight import run_connection_test
from lumisync.simulator import SimulatorConfig, running_simulator
from lumisync.subscribers import services
from lumisync.subscribers.models import Campaign, Channel, OptInPath

DEMO_SLUG = "demo"
DEMO_ADMIN = "admin"
STOP_HELP = "Reply HELP for help, STOP to opt out. Msg&data rates may apply."
DEMO_SYNC_PATH = "Website sign-up"

CAMPAIGNS = [
    (
        "Rapid Response",
        "Alerts when a river bill moves.",
        [
            (
                DEMO_SYNC_PATH,
                "web",
                "",
                "Thanks for joining Rapid Response alerts from Save the Rivers! " + STOP_HELP,
            ),
            (
                "Text RIVERS",
                "keyword",
                "RIVERS",
                "You're in! Rapid Response alerts from Save the Rivers. " + STOP_HELP,
            ),
        ],
    ),
    (
        "Donor Updates",
        "Thank-yous and impact stories for donors.",
        [
            (
                "Donation form opt-in",
                "web",
                "",
                "Thank you for giving! We'll text you impact updates. " + STOP_HELP,
            )
        ],
    ),
]

PEOPLE = [
    ("+12025550101", "Ana", "Lopez", "ana.lopez@example.org"),
    ("+12025550102", "Ben", "Okafor", "ben.okafor@example.org"),
    ("+12025550103", "Chloe", "Nguyen", "chloe.nguyen@example.org"),
    ("+12025550104", "Dev", "Patel", "dev.patel@example.org"),
    ("+12025550105", "Elena", "Rossi", ""),
    ("+14155550106", "Farah", "Haddad", "farah.haddad@example.org"),
    ("+14155550107", "Gus", "Meyer", "gus.meyer@example.org"),
    ("+16175550108", "Hana", "Sato", "hana.sato@example.org"),
]


class Command(BaseCommand):
    help = (
        "Set up the embedded demo (SQLite, a key file, a demo organization with campaigns, opt-in paths and "
        "profiles, an Administrator whose password is printed) and serve it on http://127.0.0.1:8000/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="Prepare the demo and exit.")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--constituents", type=int, default=400, help="Size of the simulated Luminate site."
        )

    def handle(self, *args, no_serve, port, constituents, **options):
        Path(settings.HOME).mkdir(parents=True, exist_ok=True)
        if not settings.LUMISYNC_ENCRYPTION_KEYS and crypto.write_key_file(Path(settings.LUMISYNC_KEY_FILE)):
            self.stdout.write(f"Wrote a new encryption key file: {settings.LUMISYNC_KEY_FILE}")
        call_command("migrate", interactive=False, verbosity=0)
        organization = self.seed()
        password = self.reset_admin(organization)
        with ExitStack() as stack:
            # The simulated Luminate site lives as long as this process: the integration points at it.
            simulator = stack.enter_context(
                running_simulator(SimulatorConfig(seed=1, constituents=constituents, ftp=True))
            )
            self.stdout.write(
                f"Running the first inbound sync against the Luminate simulator ({constituents} constituents) ..."
            )
            run = self.sync_with(simulator, organization)
            self.stdout.write(
                "\n".join(
                    [
                        "",
                        f"Demo organization: {organization.name}",
                        f"Luminate simulator: {simulator.base_url}/{simulator.org}/site/ and {simulator.ftp_url}",
                        f"Inbound sync run {run.pk}: {run.get_status_display()}, {run.done} constituents "
                        f"(see Data Sync → Synchronization Report)",
                        f"Sign in at http://127.0.0.1:{port}/ as Administrator",
                        f"  user name: {DEMO_ADMIN}",
                        f"  password:  {password}",
                        "",
                    ]
                )
            )
            if not no_serve:
                call_command("serve", port=port, no_migrate=True)

    def sync_with(self, simulator, organization: Organization):
        """Point the demo integration at ``simulator``, test it, activate it and run one inbound sync."""
        actor = datasync.Actor("lumisync demo")
        integration = Integration.objects.filter(organization=organization).first()
        if integration is None:
            integration = datasync.create_integration(organization, actor)
        datasync.apply_settings(
            integration,
            datasync.simulator_settings(
                simulator,
                sync_type=SyncType.CONSERVATIVE,
                default_opt_in_path=OptInPath.objects.get(organization=organization, name=DEMO_SYNC_PATH),
                # The simulator runs in this process on loopback: no need for the polite production pace.
                api_requests_per_second=200.0,
                api_concurrency=8,
            ),
            actor,
        )
        simulator.write_changed_file(mode="full")
        integration.refresh_from_db()
        failed = [check for check in run_connection_test(integration, actor) if not check.passed]
        if failed:
            self.stderr.write("Test Connection did not pass: " + "; ".join(check.name for check in failed))
        integration.refresh_from_db()
        if not integration.active and not failed:
            datasync.activate(integration, actor, initial_load=False, export_earlier_opt_ins=False)
        return run_inbound(integration)

    @transaction.atomic
    def seed(self) -> Organization:
        organization, created = Organization.objects.get_or_create(
            slug=DEMO_SLUG, defaults={"name": "Save the Rivers (demo)", "time_zone": "America/New_York"}
        )
        if not created:
            return organization
        paths = []
        for name, description, path_specs in CAMPAIGNS:
            campaign = Campaign.objects.create(organization=organization, name=name, description=description)
            for path_name, kind, keyword, welcome in path_specs:
                paths.append(
                    OptInPath.objects.create(
                        organization=organization,
                        campaign=campaign,
                        name=path_name,
                        kind=kind,
                        keyword=keyword,
                        welcome_message=welcome,
                    )
                )
        for index, (phone, first, last, email) in enumerate(PEOPLE):
            profile, _ = services.get_or_create_profile(
                organization,
                phone,
                channel=Channel.WEB,
                source_detail="demo data",
                first_name=first,
                last_name=last,
                email=email,
            )
            services.opt_in(
                profile, paths[index % len(paths)], channel=Channel.WEB, source_detail="demo data"
            )
        return organization

    def reset_admin(self, organization: Organization) -> str:
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username=DEMO_ADMIN, defaults={"email": "admin@example.org"}
        )
        user.set_password(password)
        user.save()
        Membership.objects.update_or_create(
            user=user, organization=organization, defaults={"role": Role.ADMINISTRATOR}
        )
        return password
