"""/healthz and /readyz for load balancers."""

import pytest


def test_healthz_answers_without_a_login_or_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_broker_storage_and_providers(client, providers):
    data = client.get("/readyz").json()
    assert data["status"] == "ok", data
    assert set(data["checks"]) == {"database", "broker", "storage", "providers"}
    assert data["checks"]["database"]["detail"] == "postgresql"
    assert "manual" in data["checks"]["providers"]["detail"]


@pytest.mark.django_db
def test_readyz_says_what_is_down(client, providers, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get("/readyz")
    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "unavailable" and not data["checks"]["broker"]["ok"]
    assert data["checks"]["database"]["ok"] and data["checks"]["storage"]["ok"]
