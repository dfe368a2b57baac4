"""Encryption at rest for users' provider keys (Fernet, key derived from a server secret).

The derived key never leaves this module; the raw provider key is only decrypted right
before it is handed to ``llm.complete(api_key=...)``.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.views.decorators.debug import sensitive_variables

from . import conf


class KeyDecryptionError(Exception):
    """The stored key cannot be decrypted (the server secret changed): ask the user to re-enter it."""


def _fernet() -> Fernet:
    digest = hashlib.sha256(("artifacts.user-api-keys:" + conf.key_encryption_secret()).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


@sensitive_variables("raw")
def encrypt(raw: str) -> str:
    return _fernet().encrypt(raw.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise KeyDecryptionError(
            "Your stored API key can no longer be decrypted (the server's secret changed): delete it and add it again."
        ) from None
