"""Users' own API keys: encrypted at rest, shown masked, never returned or logged."""

import json
import logging

import pytest
from django.db import connection
from django.urls import reverse

from artifacts.crypto import KeyDecryptionError
from artifacts.models import UserApiKey

pytestmark = pytest.mark.django_db

RAW = "sk-live-very-secret-key-abcd1234"


def test_the_raw_key_is_never_stored_returned_or_shown(owner_client, owner, providers, caplog):
    caplog.set_level(logging.DEBUG)
    response = owner_client.post("/api/artifacts/keys", data=json.dumps({"provider": "openai", "api_key": RAW}),
                                 content_type="application/json")
    assert response.status_code == 201
    assert RAW not in response.content.decode() and response.json()["masked"] == "••••1234"
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_key, last4 FROM artifacts_userapikey")
        stored, last4 = cursor.fetchone()
    assert RAW not in stored and "very-secret" not in stored and last4 == "1234"
    assert UserApiKey.objects.get().reveal() == RAW
    assert RAW not in owner_client.get("/api/artifacts/keys").content.decode()
    page = owner_client.get(reverse("artifacts:keys")).content.decode()
    assert RAW not in page and "••••1234" in page
    assert RAW not in caplog.text
    assert RAW not in repr(UserApiKey.objects.get()) and RAW not in str(UserApiKey.objects.get())


def test_the_keys_page_saves_and_deletes_a_key(owner_client, owner, providers):
    response = owner_client.post(reverse("artifacts:keys"), {"provider": "anthropic", "api_key": RAW})
    assert response.status_code == 302
    key = UserApiKey.objects.get()
    assert key.provider == "anthropic" and key.reveal() == RAW
    page = owner_client.get(reverse("artifacts:keys")).content.decode()
    assert RAW not in page  # the password field never echoes it
    owner_client.post(reverse("artifacts:key-delete", args=[key.pk]))
    assert not UserApiKey.objects.exists()


def test_a_changed_encryption_key_asks_to_re_enter_the_key(owner, settings):
    # Since issue 19 the key is FIELD_ENCRYPTION_KEY (artifacts/tests/test_field_key.py), not the secret key.
    from cryptography.fernet import Fernet

    key = UserApiKey(user=owner, provider="openai")
    key.set_key(RAW)
    key.save()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(KeyDecryptionError, match="add it again"):
        UserApiKey.objects.get().reveal()


def test_an_outsider_cannot_delete_or_see_keys(client, outsider, owner):
    key = UserApiKey(user=owner, provider="openai")
    key.set_key(RAW)
    key.save()
    client.force_login(outsider)
    assert client.post(reverse("artifacts:key-delete", args=[key.pk])).status_code == 404
    assert "1234" not in client.get(reverse("artifacts:keys")).content.decode()
