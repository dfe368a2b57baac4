"""API tokens: scopes (read, write, capture-only), expiry, revocation, and a limit on guessing."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from notes.models import Note

pytestmark = pytest.mark.django_db

NOTE = {"page_url": "https://example.com/a", "highlighted_text": "quoted", "body": "mine"}


def _bearer(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_a_capture_token_creates_notes_and_nothing_else(client, owner):
    _, raw = ApiToken.issue(owner, "extension", scopes=["capture"])
    created = client.post("/api/notes/", data=NOTE, content_type="application/json", **_bearer(raw))
    assert created.status_code == 201 and Note.objects.get().owner == owner
    for response in (client.get("/api/notes/", **_bearer(raw)), client.get("/api/me", **_bearer(raw)),
                     client.get(f"/api/notes/{created.json()['id']}", **_bearer(raw))):
        assert response.status_code == 403
        assert "needs the 'read' scope" in response.json()["detail"] and "capture" in response.json()["detail"]


def test_a_read_token_cannot_write_and_a_write_token_cannot_read(client, owner):
    _, reader = ApiToken.issue(owner, "reader", scopes=["read"])
    _, writer = ApiToken.issue(owner, "writer", scopes=["write"])
    assert client.get("/api/me", **_bearer(reader)).status_code == 200
    refused = client.post("/api/notes/", data=NOTE, content_type="application/json", **_bearer(reader))
    assert refused.status_code == 403 and "'capture' scope" in refused.json()["detail"]
    refused = client.post("/api/artifacts/keys", data={"provider": "openai", "api_key": "sk-x-1234"},
                          content_type="application/json", **_bearer(reader))
    assert refused.status_code == 403 and "'write' scope" in refused.json()["detail"]
    assert client.post("/api/notes/", data=NOTE, content_type="application/json", **_bearer(writer)).status_code == 201
    assert client.get("/api/me", **_bearer(writer)).status_code == 403


def test_expired_and_revoked_tokens_are_refused_with_the_reason(client, owner):
    token, raw = ApiToken.issue(owner, "short", expires_in_days=1)
    assert client.get("/api/me", **_bearer(raw)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    expired = client.get("/api/me", **_bearer(raw))
    assert expired.status_code == 401 and "expired on" in expired.json()["detail"]

    token, raw = ApiToken.issue(owner, "gone")
    token.revoke()
    revoked = client.get("/api/me", **_bearer(raw))
    assert revoked.status_code == 401 and "was revoked" in revoked.json()["detail"]
    unknown = client.get("/api/me", **_bearer("llmp_not-a-real-token"))
    assert unknown.status_code == 401 and "not valid" in unknown.json()["detail"]


def test_the_token_page_shows_scope_expiry_last_use_and_revokes(owner_client, owner):
    response = owner_client.post(reverse("accounts:tokens"), {"name": "ext", "scopes": ["capture"],
                                                             "expires_in_days": "30"})
    assert response.status_code == 200
    token = ApiToken.objects.get(name="ext")
    assert token.scope_list == ["capture"]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    raw = response.context["new_token"]
    owner_client.post("/api/notes/", data=NOTE, content_type="application/json", **_bearer(raw))
    html = owner_client.get(reverse("accounts:tokens")).content.decode()
    token.refresh_from_db()
    assert token.last_used_at is not None
    for shown in ("capture", token.expires_at.strftime("%Y-%m-%d %H:%M"), token.last_used_at.strftime("%Y-%m-%d %H:%M"),
                  "Revoke"):
        assert shown in html
    assert owner_client.post(reverse("accounts:tokens"), {"name": "none"}).context["form"].errors["scopes"]
    owner_client.post(reverse("accounts:revoke-token", args=[token.pk]))
    assert client_refused(owner_client, raw) == 401


def client_refused(client, raw) -> int:
    client.logout()
    return client.post("/api/notes/", data=NOTE, content_type="application/json", **_bearer(raw)).status_code


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_existing_tokens_read_write_without_expiry():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    old = executor.loader.project_state([("accounts", "0001_initial")]).apps
    User = old.get_model("auth", "User")
    user = User.objects.create(username="before-upgrade")
    old.get_model("accounts", "ApiToken").objects.create(user=user, name="old", token_hash="h" * 64, prefix="llmp_old")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    token = ApiToken.objects.get(name="old")
    assert token.scope_list == ["read", "write"] and token.expires_at is None


def test_the_command_issues_scoped_expiring_tokens(owner, capsys):
    call_command("create_api_token", "owner", "--scope", "capture", "--expires-days", "7")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(token_hash=hash_token(raw))
    assert token.scope_list == ["capture"] and token.expires_at is not None


def test_guessing_tokens_from_one_address_gets_429_with_retry_after(client, owner, settings):
    settings.API_TOKEN_FAILURE_LIMIT = 5
    settings.API_TOKEN_FAILURE_WINDOW = 600
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9"
    codes = [client.get("/api/me", REMOTE_ADDR=address, **_bearer(f"llmp_guess{i}")).status_code for i in range(7)]
    assert codes == [401] * 5 + [429] * 2
    _, good = ApiToken.issue(owner, "real")
    blocked = client.get("/api/me", REMOTE_ADDR=address, **_bearer(good))
    assert blocked.status_code == 429 and 1 <= int(blocked["Retry-After"]) <= 601
    assert "invalid API token" in blocked.json()["detail"]
    # Another address is not affected; narrow scopes are not counted as guesses.
    other = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.10"
    assert client.get("/api/me", REMOTE_ADDR=other, **_bearer(good)).status_code == 200
    _, capture = ApiToken.issue(owner, "cap", scopes=["capture"])
    assert {client.get("/api/me", REMOTE_ADDR=other, **_bearer(capture)).status_code for _ in range(7)} == {403}
