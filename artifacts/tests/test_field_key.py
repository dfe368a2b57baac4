"""Users' stored API keys use FIELD_ENCRYPTION_KEY (MultiFernet rotation), not a key derived from SECRET_KEY."""

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from artifacts.crypto import KeyDecryptionError, needs_rotation
from artifacts.models import UserApiKey

ROOT = Path(__file__).resolve().parents[2]
RAW = "sk-live-rotation-key-abcd1234"


def _legacy_encrypt(raw: str, secret: str) -> str:
    # What artifacts/crypto.py did before FIELD_ENCRYPTION_KEY: Fernet(SHA-256("artifacts.user-api-keys:" + secret)).
    digest = hashlib.sha256(("artifacts.user-api-keys:" + secret).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest)).encrypt(raw.encode()).decode()


@pytest.mark.django_db
def test_stored_keys_use_the_field_key_not_the_secret_key(owner, settings):
    first = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [first]
    key = UserApiKey(user=owner, provider="openai")
    key.set_key(RAW)
    key.save()
    assert Fernet(first).decrypt(key.encrypted_key.encode()).decode() == RAW
    settings.SECRET_KEY = "a-completely-different-secret-key-0123456789"
    settings.ARTIFACTS_KEY_ENCRYPTION_KEY = "another-secret"
    assert UserApiKey.objects.get().reveal() == RAW  # the secret key no longer matters
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(KeyDecryptionError, match="add it again"):
        UserApiKey.objects.get().reveal()


@pytest.mark.django_db
def test_values_from_before_the_field_key_stay_readable(owner, settings):
    settings.ARTIFACTS_KEY_ENCRYPTION_KEY = None
    key = UserApiKey.objects.create(user=owner, provider="openai", encrypted_key=_legacy_encrypt(RAW, settings.SECRET_KEY),
                                    last4="1234")
    assert key.reveal() == RAW and needs_rotation(key.encrypted_key)
    settings.FIELD_ENCRYPTION_LEGACY_FALLBACK = False
    with pytest.raises(KeyDecryptionError):
        UserApiKey.objects.get().reveal()


def _rotate(keys: str) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "FIELD_ENCRYPTION_KEY": keys,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"}
    return subprocess.run([sys.executable, "manage.py", "rotate_field_key"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_rotate_field_key_moves_every_value_to_the_first_key(owner, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    current = UserApiKey(user=owner, provider="openai")
    current.set_key(RAW)
    current.save()
    legacy = UserApiKey.objects.create(user=owner, provider="anthropic", last4="1234",
                                       encrypted_key=_legacy_encrypt(RAW, settings.SECRET_KEY))
    result = _rotate(f"{new},{old}")
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 2" in result.stdout
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key and the legacy fallback are gone
    settings.FIELD_ENCRYPTION_LEGACY_FALLBACK = False
    for pk in (current.pk, legacy.pk):
        stored = UserApiKey.objects.get(pk=pk)
        assert stored.reveal() == RAW and Fernet(new).decrypt(stored.encrypted_key.encode()).decode() == RAW
    again = _rotate(new)
    assert again.returncode == 0 and "re-encrypted 0, already on the first key 2" in again.stdout


@pytest.mark.django_db(transaction=True)
def test_rotate_field_key_names_values_it_cannot_open(owner, settings):
    UserApiKey.objects.create(user=owner, provider="openai", last4="1234",
                              encrypted_key=Fernet(Fernet.generate_key()).encrypt(b"lost").decode())
    result = _rotate(Fernet.generate_key().decode())
    assert result.returncode != 0 and "no configured key decrypts it" in result.stderr
    assert "unreadable 1" in result.stdout
