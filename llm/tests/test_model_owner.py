"""A model name a user types that no row has is theirs alone (issue 19 #13): the model list
everyone reads (/api/llm/models) shows it to that user and staff, not to teammates or outsiders."""

import pytest

from llm.calls import submit_answer
from llm.models import LLMModel
from llm.providers import get_provider, resolve_model
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


def _listed(client, user) -> set[str]:
    client.force_login(user)
    response = client.get("/api/llm/models")
    assert response.status_code == 200
    return {m["name"] for m in response.json()}


def test_a_users_unknown_model_is_listed_to_them_only(client, providers, fake, owner, teammate, outsider, staff):
    fake.script(Reply(text="ok"))
    complete(purpose="tests.models", prompt="hi", provider="openai", model="acme-merger-ft-2", user=owner)

    row = LLMModel.objects.get(name="acme-merger-ft-2")
    assert row.owner == owner and row.price_source == LLMModel.PriceSource.UNKNOWN
    assert "acme-merger-ft-2" in _listed(client, owner)
    assert "acme-merger-ft-2" not in _listed(client, teammate)  # listed to everyone before
    assert "acme-merger-ft-2" not in _listed(client, outsider)
    assert "acme-merger-ft-2" in _listed(client, staff)
    assert "gpt-4o" in _listed(client, outsider)  # the shared models are still everyone's


def test_a_pasted_model_name_is_the_pasters_alone(client, providers, owner, outsider):
    from llm.errors import ManualAnswerPending

    with pytest.raises(ManualAnswerPending) as pending:
        complete(purpose="tests.models", prompt="hi", provider="manual", user=owner)
    result = submit_answer(pending.value.query_id, "An answer.", "My private GPT for Acme", owner)
    assert result.ok
    assert LLMModel.objects.get(name="My private GPT for Acme").owner == owner
    assert "My private GPT for Acme" not in _listed(client, outsider)
    assert "My private GPT for Acme" in _listed(client, owner)


def test_a_model_named_by_staff_or_by_the_system_is_shared(client, providers, staff, outsider):
    provider = get_provider("openai")
    assert resolve_model(provider, "staff-added-model", user=staff).owner is None
    assert resolve_model(provider, "from-settings-model").owner is None
    listed = _listed(client, outsider)
    assert {"staff-added-model", "from-settings-model"} <= listed


def test_someone_else_using_the_same_name_does_not_make_it_visible(client, providers, fake, owner, teammate):
    fake.script(Reply(text="ok"), Reply(text="ok"))
    complete(purpose="tests.models", prompt="hi", provider="openai", model="shared-secret-name", user=owner)
    complete(purpose="tests.models", prompt="hi", provider="openai", model="shared-secret-name", user=teammate)
    assert LLMModel.objects.filter(name="shared-secret-name").count() == 1
    assert "shared-secret-name" not in _listed(client, teammate)
