"""/healthz and /readyz for load balancers.

/readyz tells anonymous callers only whether the instance is ready; which part is down, the
backends' names and error texts go to staff and to probes holding READYZ_TOKEN (issue 19 #12).
"""

import json

import pytest
from django.core.cache import cache
from django.core.files.storage import storages

from ops.checks import STORAGE_RESULT_KEY


@pytest.fixture(autouse=True)
def _fresh_storage_check():
    cache.delete_many([STORAGE_RESULT_KEY, f"{STORAGE_RESULT_KEY}:lock"])
    yield
    cache.delete_many([STORAGE_RESULT_KEY, f"{STORAGE_RESULT_KEY}:lock"])


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_healthz_answers_without_a_login_or_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_broker_storage_and_providers(staff_client, providers):
    data = staff_client.get("/readyz").json()
    assert data["status"] == "ok", data
    assert set(data["checks"]) == {"database", "broker", "storage", "providers"}
    assert data["checks"]["database"]["detail"] == "postgresql"
    assert "manual" in data["checks"]["providers"]["detail"]


@pytest.mark.django_db
def test_readyz_says_what_is_down(staff_client, providers, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = staff_client.get("/readyz")
    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "error" and not data["checks"]["broker"]["ok"]
    assert data["checks"]["database"]["ok"] and data["checks"]["storage"]["ok"]


def _no_details(response) -> None:
    text = response.content.decode()
    for leak in ("checks", "postgresql", "redis", "local", "manual", "127.0.0.1", "ConnectionError", "detail", "ms"):
        assert leak not in text, (leak, text)


@pytest.mark.django_db
def test_anonymous_callers_get_the_status_only(client, providers):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    _no_details(response)


@pytest.mark.django_db
def test_anonymous_callers_learn_nothing_about_what_is_down(client, providers, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json() == {"status": "error"}
    _no_details(response)


@pytest.mark.django_db
def test_a_signed_in_user_who_is_not_staff_gets_the_status_only(owner_client, providers):
    assert owner_client.get("/readyz").json() == {"status": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("header", [{"HTTP_AUTHORIZATION": "Bearer probe-secret-1"}, {"HTTP_X_PROBE_TOKEN": "probe-secret-1"}])
def test_the_probe_token_gets_the_details(client, providers, settings, header):
    settings.READYZ_TOKEN = "probe-secret-1"
    data = client.get("/readyz", **header).json()
    assert data["status"] == "ok" and data["checks"]["database"]["detail"] == "postgresql"


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["", "probe-secret-1"])
def test_a_wrong_or_missing_probe_token_gets_the_status_only(client, providers, settings, token):
    settings.READYZ_TOKEN = token
    for header in ({"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_X_PROBE_TOKEN": ""}, {"HTTP_AUTHORIZATION": "Bearer "}):
        assert client.get("/readyz", **header).json() == {"status": "ok"}


@pytest.mark.django_db
def test_ten_hits_write_to_storage_at_most_once(client, staff_client, providers, monkeypatch, settings):
    settings.READYZ_STORAGE_CHECK_INTERVAL = 60
    store = storages["llm_logs"]
    writes = []
    real_save = store.save
    monkeypatch.setattr(store, "save", lambda *a, **k: writes.append(a[0]) or real_save(*a, **k))
    for _ in range(9):
        assert client.get("/readyz").status_code == 200
    data = staff_client.get("/readyz").json()
    assert len(writes) <= 1, writes  # was one write + one delete per hit
    assert data["checks"]["storage"]["ok"]


@pytest.mark.django_db
def test_a_failed_storage_write_is_reported_until_the_next_check(staff_client, providers, monkeypatch, settings):
    settings.READYZ_STORAGE_CHECK_INTERVAL = 60
    store = storages["llm_logs"]

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(store, "save", refuse)
    first = staff_client.get("/readyz")
    monkeypatch.undo()
    second = staff_client.get("/readyz")  # within the interval: the recorded failure, no new write
    for response in (first, second):
        assert response.status_code == 503
        assert "read-only" in json.dumps(response.json()["checks"]["storage"])
