"""Encryption at rest for users' provider keys (Fernet with rotation: settings.FIELD_ENCRYPTION_KEYS).

The first key of FIELD_ENCRYPTION_KEY encrypts; every key decrypts (``MultiFernet``), and so does
the key values were encrypted with before that setting existed (SHA-256 of the secret key, or of
ARTIFACTS_KEY_ENCRYPTION_KEY) while FIELD_ENCRYPTION_LEGACY_FALLBACK is on. ``rotate()``
re-encrypts a value with the first key (``manage.py rotate_field_key`` does it for every row).
The raw provider key is only decrypted right before it is handed to ``llm.complete(api_key=...)``.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from . import conf


class KeyDecryptionError(Exception):
    """The stored key cannot be decrypted (its encryption key is gone): ask the user to re-enter it."""


def _legacy_fernet() -> Fernet:
    digest = hashlib.sha256(("artifacts.user-api-keys:" + conf.key_encryption_secret()).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _fernet() -> MultiFernet:
    fernets = [Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS]
    if getattr(settings, "FIELD_ENCRYPTION_LEGACY_FALLBACK", True):
        fernets.append(_legacy_fernet())  # last: decrypts old values, never encrypts
    return MultiFernet(fernets)


@sensitive_variables("raw")
def encrypt(raw: str) -> str:
    return _fernet().encrypt(raw.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise KeyDecryptionError(
            "Your stored API key can no longer be decrypted (the server's encryption key changed): delete it and "
            "add it again."
        ) from None


def rotate(token: str) -> str:
    """``token`` re-encrypted with the first key (KeyDecryptionError if no key opens it)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise KeyDecryptionError("no configured key decrypts this value") from None


def needs_rotation(token: str) -> bool:
    """True unless ``token`` already opens with the first (encrypting) key."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(token.encode())
        return False
    except InvalidToken:
        return True
