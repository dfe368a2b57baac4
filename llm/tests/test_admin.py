"""Admin: every llm model is browsable by staff, prices are flagged, providers can be tested."""

import pytest

from llm.models import LLMModel, LLMProvider
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-123")
    client.force_login(user)
    return client


def test_admin_pages_render_with_filters(admin_client, providers, fake):
    result = complete(purpose="tests.admin", prompt="hi", provider="openai", model="gpt-4o-mini")
    for url in ["/admin/llm/llmprovider/", "/admin/llm/llmmodel/", "/admin/llm/llmmodel/?price=unknown",
                "/admin/llm/llmquery/", "/admin/llm/llmquery/?status__exact=ok&provider_name=openai",
                f"/admin/llm/llmquery/{result.query_id}/change/", "/admin/llm/manualinteraction/", "/admin/llm/llmjob/"]:
        assert admin_client.get(url).status_code == 200, url
    detail = admin_client.get(f"/admin/llm/llmquery/{result.query_id}/change/").content.decode()
    assert "checksum matches" in detail


def test_unknown_price_models_are_flagged(admin_client, providers, fake):
    complete(purpose="tests.admin", prompt="hi", provider="openai", model="secret-new-model")
    page = admin_client.get("/admin/llm/llmmodel/?price=unknown").content.decode()
    assert "secret-new-model" in page and "gpt-4o-mini" not in page


def test_test_connection_action_reports_success_and_failure(admin_client, providers, fake):
    openai = LLMProvider.objects.get(name="openai")
    response = admin_client.post("/admin/llm/llmprovider/", {"action": "test_connection", "_selected_action": [openai.pk]}, follow=True)
    assert "openai" in response.content.decode() and "answered" in response.content.decode()
    fake.script(Reply(status=401), route="openai_models")
    response = admin_client.post("/admin/llm/llmprovider/", {"action": "test_connection", "_selected_action": [openai.pk]}, follow=True)
    assert "API key was refused" in response.content.decode()


def test_editing_a_price_in_admin_protects_it_from_sync(admin_client, providers):
    model = LLMModel.objects.get(provider__name="openai", name="gpt-4o")
    data = {f.name: getattr(model, f.name) for f in LLMModel._meta.fields if f.name not in ("id", "provider")}
    data.update({"provider": model.provider_id, "input_price_per_1m": "3.00", "image_prices": "{}",
                 "prices_as_of": "", "context_window": 128000, "max_output_tokens": 16384})
    data = {k: ("" if v is None else v) for k, v in data.items()}
    for flag in ("supports_vision", "supports_json_schema", "supports_image_generation", "enabled"):
        if not data[flag]:
            data.pop(flag)
    response = admin_client.post(f"/admin/llm/llmmodel/{model.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    model.refresh_from_db()
    assert str(model.input_price_per_1m) == "3.000000" and model.price_source == "admin"
