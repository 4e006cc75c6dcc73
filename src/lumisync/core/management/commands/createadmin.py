import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from lumisync.accounts.models import Membership, Organization, Role


class Command(BaseCommand):
    help = (
        "Create (or reset the password of) an Administrator of an organization. The password is read from "
        "standard input with --password-stdin, otherwise generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--password-stdin", action="store_true")

    def handle(self, *args, org, username, email, password_stdin, **options):
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            raise CommandError(f"No organization with slug {org!r}.") from None
        password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
        if not password:
            raise CommandError("The password read from standard input is empty.")
        with transaction.atomic():
            user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
            try:
                # The same rules as a password set in the app; the user is needed for the similarity check.
                validate_password(password, user)
            except ValidationError as exc:
                # Raising inside the transaction undoes the user it may just have created.
                raise CommandError("The password is refused: " + " ".join(exc.messages)) from None
            user.set_password(password)
            user.save()
            Membership.objects.update_or_create(
                user=user, organization=organization, defaults={"role": Role.ADMINISTRATOR}
            )
        self.stdout.write(f"Administrator {username!r} of {organization.name}.")
        if not password_stdin:
            self.stdout.write(f"Password: {password}")
