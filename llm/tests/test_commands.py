"""manage.py llm ping / complete / providers / sync-prices."""

import hashlib

import pytest
from django.core.management import CommandError, call_command

from llm.records import interactions
from llm.models import LLMModel, LLMProvider, LLMQuery
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def env_openai(db, fake, monkeypatch):
    """The provider row leaves base_url blank: OPENAI_BASE_URL from the environment is used."""
    from llm.bootstrap import ensure_defaults

    ensure_defaults()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test")
    return fake


def test_complete_prints_the_answer_tokens_cost_and_log_file(env_openai, capsys):
    env_openai.script(Reply(text="Four.", usage={"input_tokens": 12, "output_tokens": 2}))
    call_command("llm", "complete", "--model", "gpt-4o-mini", "What is 2+2?")
    out, err = capsys.readouterr()
    row = LLMQuery.objects.get()
    assert out.strip() == "Four."
    assert "tokens: 12 in (0 cached), 2 out" in err and "cost: $0.00000300" in err
    assert f"log file: {row.file_path}" in err
    assert hashlib.sha256(interactions.read(row.file_path)).hexdigest() == row.file_sha256
    assert env_openai.requests[-1].headers["authorization"] == "Bearer sk-cli-test"


def test_complete_on_an_unknown_model_reports_cost_unknown(env_openai, capsys):
    # An unknown name needs its provider (issue 18): written provider/model, as LiteLLM users do.
    call_command("llm", "complete", "--model", "openai/brand-new-model", "hi")
    _, err = capsys.readouterr()
    assert "cost: unknown" in err and LLMQuery.objects.get().cost_usd is None


def test_complete_fails_at_once_on_401_with_a_clear_message(env_openai):
    env_openai.set_default(Reply(status=401, error_message="Incorrect API key provided"))
    with pytest.raises(CommandError) as info:
        call_command("llm", "complete", "--model", "gpt-4o", "hi")
    assert "API key was refused" in str(info.value) and "gpt-4o" in str(info.value)
    assert len(env_openai.requests) == 1


def test_complete_on_the_manual_provider_says_where_to_paste(env_openai, capsys):
    call_command("llm", "complete", "--provider", "manual", "--model", "manual", "Explain HTTP caching")
    out, _ = capsys.readouterr()
    row = LLMQuery.objects.get()
    assert row.status == "pending_manual" and f"/llm/manual/{row.pk}/" in out


def test_ping_succeeds_and_fails_with_reasons(env_openai, capsys):
    call_command("llm", "ping", "--provider", "openai")
    assert "openai: OK" in capsys.readouterr().out
    env_openai.script(Reply(status=401), route="openai_models")
    with pytest.raises(CommandError):
        call_command("llm", "ping", "--provider", "openai")
    assert "API key was refused" in capsys.readouterr().err


def test_ping_names_the_missing_key(env_openai, monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(CommandError):
        call_command("llm", "ping", "--provider", "anthropic")
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_ping_an_unknown_provider_lists_the_known_ones(env_openai):
    with pytest.raises(Exception, match="Known providers"):
        call_command("llm", "ping", "--provider", "nope")


def test_sync_prices_keeps_admin_edits(env_openai, capsys):
    model = LLMModel.objects.get(provider__name="openai", name="gpt-4o")
    model.input_price_per_1m = 9
    model.price_source = LLMModel.PriceSource.ADMIN
    model.save()
    call_command("llm", "sync-prices")
    model.refresh_from_db()
    assert model.input_price_per_1m == 9
    assert LLMModel.objects.get(provider__name="openai", name="gpt-4o-mini").price_source == "bundled"


def test_providers_lists_configuration(env_openai, capsys):
    call_command("llm", "providers")
    out = capsys.readouterr().out
    assert "openai" in out and "configured" in out and "manual" in out
    assert LLMProvider.objects.filter(name="manual").exists()
