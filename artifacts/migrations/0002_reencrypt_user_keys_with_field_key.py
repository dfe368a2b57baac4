"""Users' stored API keys move from the key derived from SECRET_KEY to FIELD_ENCRYPTION_KEY.

Each value is decrypted with any configured key (the old derived one included) and encrypted
again with the first key of FIELD_ENCRYPTION_KEY. A value no key opens is left as it was (it was
already unreadable; its owner re-enters it). Later rotations: `manage.py rotate_field_key`.
"""

from django.db import migrations


def reencrypt(apps, schema_editor):
    from artifacts.crypto import KeyDecryptionError, needs_rotation, rotate

    UserApiKey = apps.get_model("artifacts", "UserApiKey")
    for key in UserApiKey.objects.only("pk", "encrypted_key").iterator():
        if not needs_rotation(key.encrypted_key):
            continue
        try:
            UserApiKey.objects.filter(pk=key.pk).update(encrypted_key=rotate(key.encrypted_key))
        except KeyDecryptionError:
            pass


class Migration(migrations.Migration):
    dependencies = [("artifacts", "0001_initial")]
    operations = [migrations.RunPython(reencrypt, migrations.RunPython.noop)]
