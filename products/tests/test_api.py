"""POST /api/products/identify-category, /map-attributes, /generate: stateless, validated, rate limited."""

import pytest

from llm.testing.fake_provider import Reply
from products import ratelimit
from products.tests.fakes import ATTRIBUTES, CONTENT

pytestmark = pytest.mark.django_db

TEXT = "Lumora Glide smart dimmer, 600 W, Wi-Fi"


@pytest.fixture
def api(owner_client, owner, settings):
    settings.PRODUCTS_API_RATE_LIMIT = "100/m"
    ratelimit.reset(owner.pk)
    yield lambda path, body, **kw: owner_client.post(f"/api/products/{path}", body, content_type="application/json", **kw)
    ratelimit.reset(owner.pk)


def test_identify_category_returns_the_choice(api, providers, fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    fake.script(Reply(json={"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.7, "reason": "r"}))
    response = api("identify-category", {"text": TEXT, "provider": "openai", "model": "gpt-4o-mini"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["subcategory_id"] == dimmers.pk and data["subcategory_name"] == "Dimmer Switches"
    assert data["confidence"] == 0.7 and data["calls"][0]["status"] == "ok"


def test_map_attributes_returns_valid_and_invalid_values(api, providers, fake, dimmers, dimmer_attributes):
    fake.set_default(Reply(json={**ATTRIBUTES, "connectivity": "Bluetooth"}))
    response = api("map-attributes", {"text": TEXT, "subcategory_id": dimmers.pk, "provider": "openai", "model": "gpt-4o-mini"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["attributes"]["Max load"] == 600 and "Connectivity" not in data["attributes"]
    assert data["invalid"][0]["name"] == "Connectivity" and data["invalid"][0]["value"] == "Bluetooth"


def test_generate_returns_the_content(api, providers, fake, dimmers, dimmer_attributes):
    fake.script(Reply(json=CONTENT))
    response = api("generate", {"text": TEXT, "subcategory_id": dimmers.pk, "attributes": {"Max load": "600 W"},
                                "provider": "openai", "model": "gpt-4o-mini"})
    assert response.status_code == 200, response.content
    assert response.json()["title"] == CONTENT["title"]
    assert "- Max load: 600 W" in fake.requests[0].body["messages"][-1]["content"]


@pytest.mark.parametrize("path, body, field", [
    ("identify-category", {}, "text"),
    ("identify-category", {"text": "   "}, "text"),
    ("identify-category", {"text": "x" * 20_001}, "text"),
    ("identify-category", {"text": "ok", "colour": "red"}, "colour"),
    ("map-attributes", {"text": "ok"}, "subcategory_id"),
    ("map-attributes", {"text": "ok", "subcategory_id": "seven"}, "subcategory_id"),
    ("generate", {"text": "ok", "subcategory_id": 1, "attributes": []}, "attributes"),
])
def test_bad_bodies_are_400_naming_the_field(api, path, body, field):
    response = api(path, body)
    assert response.status_code == 400
    data = response.json()
    assert data["detail"].startswith("Invalid request:") and field in data["detail"]
    assert any(e["field"] == field for e in data["errors"])


def test_not_json_is_400(api):
    response = api("identify-category", "{not json", )
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize("path", ["map-attributes", "generate"])
def test_an_unknown_subcategory_is_400_naming_it(api, fake, path, dimmers):
    response = api(path, {"text": TEXT, "subcategory_id": 424242})
    assert response.status_code == 400
    assert "Unknown subcategory_id 424242" in response.json()["detail"]
    assert fake.requests == []


def test_invalid_attributes_for_generate_are_400_naming_them(api, fake, dimmers, dimmer_attributes):
    response = api("generate", {"text": TEXT, "subcategory_id": dimmers.pk,
                                "attributes": {"Connectivity": "Bluetooth", "Colour": "red"}})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "Connectivity: must be one of" in detail and "Colour: is not an attribute" in detail
    assert fake.requests == []


def test_a_model_that_never_answers_validly_is_502_with_the_reason(api, providers, fake, catalog_ready):
    fake.set_default(Reply(json={"category_id": 1, "subcategory_id": 999999, "confidence": 1, "reason": "x"}))
    response = api("identify-category", {"text": TEXT, "provider": "openai", "model": "gpt-4o-mini"})
    assert response.status_code == 502
    assert "did not choose one of the existing subcategories" in response.json()["detail"]


def test_an_unknown_provider_is_400(api, providers, catalog_ready):
    response = api("identify-category", {"text": TEXT, "provider": "nope"})
    assert response.status_code == 400 and "Unknown provider 'nope'" in response.json()["detail"]


def test_over_the_limit_is_429_with_retry_after(api, settings, owner, teammate, client, dimmers):
    settings.PRODUCTS_API_RATE_LIMIT = "2/m"
    ratelimit.reset(owner.pk)
    for _ in range(2):
        assert api("identify-category", {}).status_code == 400  # counted even when invalid
    response = api("identify-category", {"text": TEXT})
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert f"Try again in {retry_after} second" in response.json()["detail"]
    assert "2 per 60 seconds" in response.json()["detail"]
    # Per user: a teammate is not held back by the owner's requests.
    ratelimit.reset(teammate.pk)
    client.force_login(teammate)
    assert client.post("/api/products/map-attributes", {}, content_type="application/json").status_code == 400
    ratelimit.reset(teammate.pk)


def test_the_limiter_counts_in_fixed_windows(settings):
    settings.PRODUCTS_API_RATE_LIMIT = "2/10s"
    user_id = "limiter-test"
    now = 1_000_000_000.0
    ratelimit.reset(user_id, now=now)
    assert ratelimit.hit(user_id, now=now).allowed and ratelimit.hit(user_id, now=now + 1).allowed
    blocked = ratelimit.hit(user_id, now=now + 3)
    assert not blocked.allowed and blocked.retry_after == 7
    assert ratelimit.hit(user_id, now=now + 10).allowed  # a new window
    ratelimit.reset(user_id, now=now)
    ratelimit.reset(user_id, now=now + 10)


def test_the_limiter_falls_back_to_the_cache_without_redis(settings):
    settings.REDIS_URL = ""
    settings.PRODUCTS_API_RATE_LIMIT = "1/m"
    assert ratelimit.hit("cache-only").allowed
    assert not ratelimit.hit("cache-only").allowed
    ratelimit.reset("cache-only")


def test_a_bad_limit_setting_fails_loudly(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.PRODUCTS_API_RATE_LIMIT = "lots"
    with pytest.raises(ImproperlyConfigured, match="PRODUCTS_API_RATE_LIMIT"):
        ratelimit.hit(1)


def test_anonymous_requests_are_refused(client):
    assert client.post("/api/products/identify-category", {"text": TEXT}, content_type="application/json").status_code == 401
