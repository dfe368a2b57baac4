"""API rate limits: over API_THROTTLE_USER a user gets 429 with Retry-After; others are not affected."""

import uuid

import pytest
from django.core.cache import cache

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def _user(django_user_model):
    # A fresh username: the counters live in the shared Redis, keyed by the authenticated user.
    user = django_user_model.objects.create_user(f"throttled-{uuid.uuid4().hex[:10]}", password="x-pass-12345")
    return user, ApiToken.issue(user, "t")[1]


def test_a_user_over_the_limit_gets_429_with_retry_after(client, settings, django_user_model):
    settings.API_THROTTLE_USER = "3/min"
    user, raw = _user(django_user_model)
    other, other_raw = _user(django_user_model)
    bearer = {"Authorization": f"Bearer {raw}"}
    assert [client.get("/api/me", headers=bearer).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/me", headers=bearer)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    # The budget is per user: the session of the same user shares it, another user has their own.
    client.force_login(user)
    assert client.get("/api/notes/").status_code == 429
    client.logout()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {other_raw}"}).status_code == 200


def test_the_limit_is_read_from_settings_and_zero_turns_it_off(client, settings, django_user_model):
    user, raw = _user(django_user_model)
    bearer = {"Authorization": f"Bearer {raw}"}
    settings.API_THROTTLE_USER = "0"
    assert {client.get("/api/me", headers=bearer).status_code for _ in range(5)} == {200}
    settings.API_THROTTLE_USER = "2/hour"
    codes = [client.get("/api/me", headers=bearer).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_requests_without_login_are_limited_per_address(client, settings):
    settings.API_THROTTLE_ANON = "2/min"
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    cache.delete_many([f"throttle_anon_{address}"])
    codes = [client.options("/api/notes/", REMOTE_ADDR=address).status_code for _ in range(3)]
    assert codes == [204, 204, 429]
    # Requests without valid credentials are refused with 401 before any counting.
    assert client.get("/api/me", REMOTE_ADDR=address).status_code == 401
