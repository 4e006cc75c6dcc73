from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lumisync.accounts.models import Organization
from lumisync.mcapi.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create, list or revoke an organization's API keys. A new key is printed once; only its digest is "
        "stored, so a lost key is revoked and replaced, never recovered."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a key and print it once.")
        create.add_argument("organization", help="The organization's slug.")
        create.add_argument("--name", required=True, help="What will use the key.")
        listing = actions.add_parser("list", help="List keys (never their value).")
        listing.add_argument("organization", help="The organization's slug.")
        revoke = actions.add_parser("revoke", help="Revoke a key by the first characters shown in the list.")
        revoke.add_argument("organization", help="The organization's slug.")
        revoke.add_argument("prefix", help="The key's first characters (lsk_…).")

    def handle(self, *args, action, organization, **options):
        org = Organization.objects.filter(slug=organization).first()
        if org is None:
            raise CommandError(f"No organization has the slug {organization!r}.")
        if action == "create":
            key, token = ApiKey.issue(org, options["name"])
            self.stdout.write(
                f"Created API key {key.prefix}… ({key.name}) for {org}. Copy it now, it is not shown again:"
            )
            self.stdout.write(token)
        elif action == "list":
            for key in org.api_keys.all():
                state = "active" if key.is_active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
                used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                self.stdout.write(f"{key.prefix}…  {key.name}  {state}  last used {used}")
        else:
            prefix = options["prefix"].rstrip("…")
            keys = list(org.api_keys.filter(prefix__startswith=prefix[:12], revoked_at__isnull=True))
            if len(keys) != 1:
                raise CommandError(
                    f"{len(keys)} active keys of {org} start with {prefix!r}; give exactly one."
                )
            keys[0].revoked_at = timezone.now()
            keys[0].save(update_fields=["revoked_at"])
            self.stdout.write(f"Revoked API key {keys[0].prefix}… ({keys[0].name}).")
