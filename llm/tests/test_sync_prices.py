"""manage.py llm sync-prices --from FILE: this project's list or LiteLLM's model_prices_and_context_window.json."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from llm.models import LLMModel

pytestmark = pytest.mark.django_db

# Copied from github.com/BerriAI/litellm (see the _source key inside the file).
LITELLM_EXCERPT = Path(__file__).parent / "fixtures" / "litellm_model_prices_excerpt.json"


def _model(provider: str, name: str) -> LLMModel:
    return LLMModel.objects.get(provider__name=provider, name=name)


def test_it_reads_litellms_file_per_token_prices_tiers_cache_writes_and_images(providers, capsys):
    call_command("llm", "sync-prices", "--from", str(LITELLM_EXCERPT))
    out = capsys.readouterr().out
    assert "as a LiteLLM price file" in out and "entries of other providers or kinds skipped" in out
    mini = _model("openai", "gpt-4o-mini")  # 1.5e-07 per token = $0.15 per 1M
    assert (mini.input_price_per_1m, mini.cached_input_price_per_1m, mini.output_price_per_1m) == (
        Decimal("0.15"), Decimal("0.075"), Decimal("0.6"))
    assert (mini.context_window, mini.max_output_tokens, mini.supports_vision) == (128000, 16384, True)
    assert mini.price_source == LLMModel.PriceSource.IMPORTED
    sonnet = _model("anthropic", "claude-sonnet-4-5")
    assert (sonnet.cache_write_price_per_1m, sonnet.cache_write_1h_price_per_1m) == (Decimal("3.75"), Decimal("6"))
    assert sonnet.tiers == [{"above_input_tokens": 200000, "input": "6", "output": "22.5", "cached_input": "0.6",
                             "cache_write": "7.5", "cache_write_1h": "12"}]
    pro = _model("gemini", "gemini-2.5-pro")  # the "gemini/" prefix is LiteLLM's, not the model's
    assert pro.tiers == [{"above_input_tokens": 200000, "input": "2.5", "output": "15", "cached_input": "0.25"}]
    image = _model("openai", "gpt-image-1.5")
    assert image.supports_image_generation and image.output_price_per_1m == Decimal("32")  # image output tokens
    assert image.image_prices == {"1024x1024/low": "0.009", "1024x1024/medium": "0.034"}
    # deprecation_date in the past: retired, kept
    assert _model("anthropic", "claude-3-7-sonnet-20250219").retired
    assert _model("gemini", "gemini-2.5-flash-lite-preview-06-17").retired
    assert not _model("anthropic", "claude-haiku-4-5").retired
    # other providers and non-chat kinds are not ours to call
    assert not LLMModel.objects.filter(name__in=["ai21.j2-mid-v1", "gpt-4o-mini-tts", "sample_spec"]).exists()


def test_admin_edits_win_over_an_imported_file(providers):
    edited = _model("openai", "gpt-4o-mini")
    edited.input_price_per_1m = Decimal("9")
    edited.price_source = LLMModel.PriceSource.ADMIN
    edited.save()
    call_command("llm", "sync-prices", "--from", str(LITELLM_EXCERPT))
    edited.refresh_from_db()
    assert edited.input_price_per_1m == Decimal("9") and edited.price_source == "admin"


def test_a_newer_import_is_not_undone_by_the_bundled_list_at_the_next_migrate(providers, tmp_path):
    data = json.loads(LITELLM_EXCERPT.read_text())
    data["gpt-4o-mini"]["input_cost_per_token"] = 1.6e-07
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data))
    call_command("llm", "sync-prices", "--from", str(path))
    call_command("llm", "sync-prices")  # the bundled list (what ensure_defaults runs after migrate)
    assert _model("openai", "gpt-4o-mini").input_price_per_1m == Decimal("0.16")


def test_our_own_format_is_read_from_a_file_too(providers, tmp_path):
    bundled = json.loads((Path(__file__).parents[1] / "data" / "prices.json").read_text())
    bundled["prices_as_of"] = "2030-01-01"
    bundled["providers"]["openai"][0]["input"] = "3.00"
    path = tmp_path / "ours.json"
    path.write_text(json.dumps(bundled))
    call_command("llm", "sync-prices", "--from", str(path))
    row = _model("openai", bundled["providers"]["openai"][0]["name"])
    assert row.input_price_per_1m == Decimal("3") and str(row.prices_as_of) == "2030-01-01"


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not JSON"),
    ('{"models": []}', "neither this project's price list"),
    ('{"gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "cheap"}}',
     "entry 'gpt-4o-mini': input_cost_per_token must be a number"),
    ('{"gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-07, "deprecation_date": "soon"}}',
     "deprecation_date must be YYYY-MM-DD"),
    ('{"prices_as_of": "2026-12-01", "providers": {"openai": [{"name": "gpt-4o", "input": "x"}]}}',
     "openai/gpt-4o input must be a number"),
    ('{"prices_as_of": "2026-12-01", "providers": {"gemini": [{"name": "g", "input": "1", "output": "2", "tiers": [{"input": "1"}]}]}}',
     "gemini/g: Tier 1: above_input_tokens must be a whole number"),
])
def test_a_bad_file_is_refused_whole_with_what_is_wrong(providers, tmp_path, content, message):
    before = {(m.provider_id, m.name): m.input_price_per_1m for m in LLMModel.objects.all()}
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CommandError) as caught:
        call_command("llm", "sync-prices", "--from", str(path))
    assert "Nothing was changed" in str(caught.value) and message in str(caught.value)
    assert {(m.provider_id, m.name): m.input_price_per_1m for m in LLMModel.objects.all()} == before


def test_a_missing_file_is_named(providers, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("llm", "sync-prices", "--from", str(tmp_path / "nope.json"))
