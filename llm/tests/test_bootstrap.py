"""The default providers exist after migrate (issue 18): on a fresh database a key is all a user sets."""

import pytest
from django.core.management import call_command

from llm import definitions
from llm.bootstrap import defaults_after_migrate
from llm.models import LLMModel, LLMProvider, LLMQuery
from llm.calls import complete

pytestmark = pytest.mark.django_db


def test_a_migrated_database_has_the_default_providers_and_prices(db):
    # pytest-django built this database with `migrate`; nothing here calls ensure_defaults.
    assert set(LLMProvider.objects.values_list("name", flat=True)) >= {"openai", "anthropic", "gemini", "manual", "ollama"}
    assert LLMModel.objects.get(provider__name="openai", name="gpt-4o-mini").price_source == "bundled"


def test_with_only_openai_api_key_set_a_call_goes_to_openai(db, fake, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fresh-install-0000")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base_url)  # the provider row leaves base_url blank
    definitions.forget()
    result = complete(purpose="tests.fresh", prompt="hello")
    assert result.provider == "openai" and fake.requests[-1].route == "openai"
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-fresh-install-0000"
    assert LLMQuery.objects.get(pk=result.query_id).cost_usd is not None


def test_migrate_again_keeps_admin_edits(db):
    openai = LLMProvider.objects.get(name="openai")
    openai.default_model = "gpt-5-mini"
    openai.display_name = "Our OpenAI"
    openai.save()
    model = LLMModel.objects.get(provider=openai, name="gpt-4o")
    model.input_price_per_1m = 7
    model.price_source = LLMModel.PriceSource.ADMIN
    model.save()
    call_command("migrate", verbosity=0)
    openai.refresh_from_db()
    model.refresh_from_db()
    assert (openai.default_model, openai.display_name) == ("gpt-5-mini", "Our OpenAI")
    assert model.input_price_per_1m == 7
    assert LLMProvider.objects.filter(name="openai").count() == 1


def test_the_hook_skips_a_state_without_the_current_fields(db):
    """After `migrate llm 0008` the tables lack the new columns: the hook must not touch them."""

    class OldState:
        def get_model(self, app, name):
            raise LookupError(name)

    LLMProvider.objects.all().delete()
    defaults_after_migrate(sender=None, apps=OldState())
    assert not LLMProvider.objects.exists()
    defaults_after_migrate(sender=None)
    assert LLMProvider.objects.filter(name="openai").exists()
