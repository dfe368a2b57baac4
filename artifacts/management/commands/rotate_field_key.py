from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from artifacts.crypto import KeyDecryptionError, needs_rotation, rotate
from artifacts.models import UserApiKey


class Command(BaseCommand):
    help = ("Re-encrypt every stored user API key with the first key of FIELD_ENCRYPTION_KEY. Rotation: put the "
            "new key first (keep the old ones after it), run this, then remove the old keys. Values from before "
            "FIELD_ENCRYPTION_KEY (encrypted with a key derived from the secret key) are moved over too.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")

    def handle(self, *args, dry_run=False, **options):
        rotated = current = unreadable = 0
        with transaction.atomic():
            for key in UserApiKey.objects.select_for_update().only("pk", "encrypted_key").order_by("pk"):
                if not needs_rotation(key.encrypted_key):
                    current += 1
                    continue
                try:
                    value = rotate(key.encrypted_key)
                except KeyDecryptionError:
                    unreadable += 1
                    self.stderr.write(f"UserApiKey {key.pk}: no configured key decrypts it; left as it is "
                                      "(its owner has to add it again).")
                    continue
                rotated += 1
                if not dry_run:
                    UserApiKey.objects.filter(pk=key.pk).update(encrypted_key=value)
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(f"{verb} {rotated}, already on the first key {current}, unreadable {unreadable}.")
        if unreadable and not dry_run:
            raise CommandError(f"{unreadable} stored key(s) could not be decrypted with any configured key.")
