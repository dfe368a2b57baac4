from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import SCOPES, ApiToken


class Command(BaseCommand):
    help = "Issue an API token for a user and print it once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--scope", action="append", choices=SCOPES, dest="scopes",
                            help="read, write or capture (repeat for several; default: read and write)")
        parser.add_argument("--expires-days", type=int, default=None, help="days until it expires (default: never)")

    def handle(self, *args, username, name, scopes, expires_days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}. Create it first (manage.py createsuperuser).")
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be a positive number of days.")
        _, raw = ApiToken.issue(user, name, scopes=scopes or ("read", "write"), expires_in_days=expires_days)
        self.stdout.write(raw)
