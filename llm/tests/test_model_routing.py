"""A model name picks its provider when none is named (issue 18), in llm.complete and so in every caller."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken
from llm.errors import LLMConfigurationError
from llm.models import LLMJob, LLMModel, LLMQuery
from llm.calls import complete

pytestmark = pytest.mark.django_db


def test_a_known_model_goes_to_its_provider_not_the_first_configured_one(providers, fake):
    # With every key set the default provider is Gemini; gpt-4o-mini is OpenAI's.
    result = complete(purpose="tests.route", prompt="hi", model="gpt-4o-mini")
    assert fake.requests[-1].route == "openai" and fake.requests[-1].body["model"] == "gpt-4o-mini"
    assert result.provider == "openai" and result.cost_usd is not None
    assert LLMQuery.objects.get(pk=result.query_id).provider_name == "openai"


def test_provider_slash_model_names_both(providers, fake):
    result = complete(purpose="tests.route", prompt="hi", model="anthropic/claude-haiku-4-5")
    assert fake.requests[-1].route == "anthropic" and fake.requests[-1].body["model"] == "claude-haiku-4-5"
    assert (result.provider, result.model) == ("anthropic", "claude-haiku-4-5")
    # Naming the provider as well is fine; a slash that is part of the model's own name stays.
    complete(purpose="tests.route", prompt="hi", provider="openai", model="openai/gpt-4o")
    assert fake.requests[-1].body["model"] == "gpt-4o"
    complete(purpose="tests.route", prompt="hi", provider="ollama", model="meta-llama/Llama-3.1-8B")
    assert fake.requests[-1].body["model"] == "meta-llama/Llama-3.1-8B"


def test_a_name_two_providers_price_is_an_error_listing_both(providers, fake):
    LLMModel.objects.create(provider=providers["ollama"], name="gpt-4o-mini", input_price_per_1m=Decimal("0"),
                            output_price_per_1m=Decimal("0"), price_source=LLMModel.PriceSource.ADMIN)
    with pytest.raises(LLMConfigurationError) as caught:
        complete(purpose="tests.route", prompt="hi", model="gpt-4o-mini")
    assert "several providers: ollama/gpt-4o-mini, openai/gpt-4o-mini" in str(caught.value)
    assert not fake.requests and not LLMQuery.objects.exists()


def test_a_row_made_by_a_misrouted_call_does_not_make_the_name_ambiguous(providers, fake):
    # What yesterday's routing left behind: gemini/gpt-4o-mini with unknown prices.
    LLMModel.objects.create(provider=providers["gemini"], name="gpt-4o-mini", price_source=LLMModel.PriceSource.UNKNOWN)
    assert complete(purpose="tests.route", prompt="hi", model="gpt-4o-mini").provider == "openai"


def test_an_unknown_name_without_a_provider_is_an_error_with_the_choices(providers, fake):
    with pytest.raises(LLMConfigurationError) as caught:
        complete(purpose="tests.route", prompt="hi", model="gpt-4o-mni")
    message = str(caught.value)
    assert "Unknown model 'gpt-4o-mni'" in message and "/gpt-4o-mni" in message
    assert "Configured providers: anthropic, gemini, manual, ollama, openai" in message
    assert "Similar known models: " in message and "openai/gpt-4o-mini" in message
    assert not fake.requests


def test_llm_default_provider_serves_the_names_nobody_lists(providers, fake, settings):
    settings.LLM_DEFAULT_PROVIDER = "ollama"
    complete(purpose="tests.route", prompt="hi", model="llama3.2")
    assert fake.requests[-1].route == "openai" and fake.requests[-1].body["model"] == "llama3.2"  # ollama speaks OpenAI
    assert LLMQuery.objects.get().provider_name == "ollama"


def test_the_command_routes_by_model_name(providers, fake, capsys):
    call_command("llm", "complete", "--model", "gpt-4o-mini", "What is 2+2?")
    assert "provider: openai  model: gpt-4o-mini" in capsys.readouterr().err
    call_command("llm", "complete", "--model", "anthropic/claude-haiku-4-5", "What is 2+2?")
    assert "provider: anthropic  model: claude-haiku-4-5" in capsys.readouterr().err
    with pytest.raises(CommandError, match="Unknown model 'nope-1'"):
        call_command("llm", "complete", "--model", "nope-1", "hi")


def test_the_jobs_api_routes_by_model_name(client, providers, owner):
    _, raw = ApiToken.issue(owner, "test")
    response = client.post("/api/llm/jobs", {"prompt": "hello", "model": "claude-haiku-4-5"}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 201
    job = LLMJob.objects.get(pk=response.json()["id"])
    assert (job.provider.name, job.model_name) == ("anthropic", "claude-haiku-4-5")


def test_the_playground_takes_provider_slash_model_over_the_selected_provider(client, providers, owner, celery_eager,
                                                                             django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/llm/prompt/", {"template": "", "provider": providers["openai"].pk,
                                                "model_name": "anthropic/claude-haiku-4-5", "prompt": "Say hi"})
    assert response.status_code == 302
    job = LLMJob.objects.get()
    assert (job.provider.name, job.model_name, job.status) == ("anthropic", "claude-haiku-4-5", "completed")
