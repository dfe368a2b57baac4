"""`manage.py check --deploy`: the server secrets are real ones (config/keys.py refuses to start
without them when DEBUG is off; these warn about a DEBUG setup about to be deployed)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

from config.keys import DEV_FIELD_ENCRYPTION_KEY, DEV_SECRET_KEY, MAKE_FIELD_KEY, MAKE_SECRET_KEY


@register(Tags.security, deploy=True)
def check_server_secrets(app_configs=None, **kwargs):
    problems = []
    if settings.SECRET_KEY == DEV_SECRET_KEY:
        problems.append(Warning(
            "SECRET_KEY is the public development value.",
            hint=f"Set DJANGO_SECRET_KEY to a long random value ({MAKE_SECRET_KEY}); without it, DJANGO_DEBUG=0 "
                 "refuses to start.", id="accounts.W001"))
    keys = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or [])
    if not keys or keys[0] == DEV_FIELD_ENCRYPTION_KEY:
        problems.append(Warning(
            "FIELD_ENCRYPTION_KEY is not set: users' stored API keys are encrypted with the public development key.",
            hint=f"Make a key ({MAKE_FIELD_KEY}), set FIELD_ENCRYPTION_KEY=<new>,{DEV_FIELD_ENCRYPTION_KEY} and run "
                 "`manage.py rotate_field_key`, then drop the development key.", id="accounts.W002"))
    elif DEV_FIELD_ENCRYPTION_KEY in keys:
        problems.append(Warning(
            "FIELD_ENCRYPTION_KEY still lists the public development key (for decryption).",
            hint="Run `manage.py rotate_field_key`, then remove the development key from FIELD_ENCRYPTION_KEY.",
            id="accounts.W003"))
    return problems
