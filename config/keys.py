"""The two server secrets, checked when the settings load.

``DJANGO_SECRET_KEY`` signs sessions, CSRF tokens and password-reset links.
``FIELD_ENCRYPTION_KEY`` encrypts stored secrets (users' provider API keys): a comma-separated
list of Fernet keys, the first encrypts, all of them decrypt (rotation: put the new key first,
run ``manage.py rotate_field_key``, then drop the old one). It is not derived from the secret
key, so rotating one does not touch the other.

With DEBUG on, development values stand in for both. With DEBUG off a missing or development
value stops the start (ImproperlyConfigured, naming the variable and how to make one).
"""

import base64
import binascii

from django.core.exceptions import ImproperlyConfigured

DEV_SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789"
# A fixed Fernet key for development databases only (public: it is in the source).
DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZC0="

MAKE_SECRET_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
MAKE_FIELD_KEY = "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def secret_key(value: str, debug: bool) -> str:
    value = (value or "").strip()
    if debug:
        return value or DEV_SECRET_KEY
    if not value:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off: set it to a long random value, e.g. {MAKE_SECRET_KEY}")
    if value == DEV_SECRET_KEY or value.startswith("django-insecure-") or len(value) < 32:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is the public development value (or shorter than 32 characters) and DJANGO_DEBUG is "
            f"off: set it to a long random value, e.g. {MAKE_SECRET_KEY}")
    return value


def field_encryption_keys(raw: str, debug: bool) -> list[str]:
    keys = [k.strip() for k in (raw or "").split(",") if k.strip()]
    if not keys:
        if debug:
            return [DEV_FIELD_ENCRYPTION_KEY]
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not set and DJANGO_DEBUG is off: it encrypts users' stored API keys. Make one "
            f"with {MAKE_FIELD_KEY} (comma-separate several to rotate: the first encrypts, all decrypt).")
    for i, key in enumerate(keys, 1):
        try:
            ok = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEY: key {i} of {len(keys)} is not a Fernet key (32 bytes, url-safe base64). "
                f"Make one with {MAKE_FIELD_KEY}")
    # The development key may stay after the first one (to read values stored under it until
    # `rotate_field_key` has run; check --deploy warns), never encrypt new values.
    if not debug and keys[0] == DEV_FIELD_ENCRYPTION_KEY:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY starts with the public development key and DJANGO_DEBUG is off: make a new key "
            f"with {MAKE_FIELD_KEY}, put it first, and run `manage.py rotate_field_key`.")
    return keys
