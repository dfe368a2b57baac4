"""Prices that depend on the request (issue 18): long-context tiers, Anthropic's 1-hour cache writes,
images returned as URLs, and the retired flag. Worked figures are in the comments, exact to the 1e-8 USD."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from llm.calls import generate_image
from llm.models import LLMModel, LLMQuery
from llm.records import PriceError, check_tiers, cost_for, max_cost_for, sync_bundled_prices
from llm.providers import Usage
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


def _model(provider: str, name: str) -> LLMModel:
    return LLMModel.objects.select_related("provider").get(provider__name=provider, name=name)


# --------------------------------------------------------------------------- #
# Long-context tiers
# --------------------------------------------------------------------------- #
def test_a_250k_token_gemini_2_5_pro_call_is_charged_the_long_context_tier(providers, fake):
    # Gemini 2.5 Pro: $1.25 in / $10 out up to 200k prompt tokens, $2.50 / $15 above, for every token.
    # 250,000 x 2.50 + 2,000 x 15 = 0.625 + 0.030 = $0.655 (flattened to the base prices: $0.3325).
    fake.script(Reply(text="A summary.", usage={"input_tokens": 250_000, "output_tokens": 2_000}), route="gemini")
    result = complete(purpose="tests.tiers", prompt="Summarise this book", provider="gemini", model="gemini-2.5-pro")
    row = LLMQuery.objects.get(pk=result.query_id)
    assert (row.input_tokens, row.output_tokens) == (250_000, 2_000)
    assert result.cost_usd == row.cost_usd == Decimal("0.65500000")
    assert row.price_tier == "above 200000 input tokens"


def test_the_tier_is_picked_by_the_whole_prompt_cached_tokens_included(providers):
    model = _model("gemini", "gemini-2.5-pro")
    # Exactly 200,000 is not above the threshold: 200,000 x 1.25 + 2,000 x 10 = 0.25 + 0.02.
    assert cost_for(model, Usage(input_tokens=200_000, output_tokens=2_000)) == Decimal("0.27000000")
    # 250,000 in of which 100,000 cached: 150,000 x 2.50 + 100,000 x 0.25 + 2,000 x 15 = 0.375 + 0.025 + 0.03.
    assert cost_for(model, Usage(input_tokens=250_000, cached_input_tokens=100_000, output_tokens=2_000)) == Decimal("0.43000000")
    # The budget's worst case uses the tier the prompt reaches: 250,000 x 2.50 + 8,192 x 15 = 0.625 + 0.12288.
    assert max_cost_for(model, 250_000, 8_192) == Decimal("0.74788000")


def test_claude_sonnet_long_context_tier_prices_cache_writes_and_output(providers):
    # Sonnet 4.5 above 200k input (1M-context beta): $6 in, $0.60 cache read, $7.50 5m write, $12 1h write, $22.50 out.
    model = _model("anthropic", "claude-sonnet-4-5")
    usage = Usage(input_tokens=300_000, cached_input_tokens=100_000, cache_write_input_tokens=50_000,
                  cache_write_1h_input_tokens=20_000, output_tokens=1_000)
    # 150,000 x 6 + 100,000 x 0.60 + 30,000 x 7.50 + 20,000 x 12 + 1,000 x 22.50
    # = 0.9 + 0.06 + 0.225 + 0.24 + 0.0225 = 1.4475
    assert cost_for(model, usage) == Decimal("1.44750000")


def test_tiers_are_validated_with_a_message_that_says_what_to_fix(providers):
    assert check_tiers([{"above_input_tokens": 272000, "input": 5, "output": "22.5"},
                        {"above_input_tokens": 128000, "input": "3", "output": "15"}]) == [
        {"above_input_tokens": 128000, "input": "3", "output": "15"},
        {"above_input_tokens": 272000, "input": "5", "output": "22.5"},
    ]
    for bad, message in [
        ({"above_input_tokens": 200000}, "must be a list"),
        ([{"above_input_tokens": 0, "input": "1", "output": "2"}], "above_input_tokens must be a whole number"),
        ([{"above_input_tokens": 200000, "input": "1"}], "needs an output price"),
        ([{"above_input_tokens": 200000, "input": "-1", "output": "2"}], "input must be a price of 0 or more"),
        ([{"above_input_tokens": 200000, "input": "1", "output": "2", "cache": "1"}], "unknown keys ['cache']"),
        ([{"above_input_tokens": 5, "input": "1", "output": "2"}, {"above_input_tokens": 5, "input": "1", "output": "2"}],
         "two tiers start above 5"),
    ]:
        with pytest.raises(PriceError, match=message.replace("[", r"\[").replace("]", r"\]")):
            check_tiers(bad)
    model = _model("gemini", "gemini-2.5-pro")
    model.tiers = [{"above_input_tokens": "lots", "input": "2.5", "output": "15"}]
    with pytest.raises(ValidationError) as caught:
        model.full_clean()
    assert "tiers" in caught.value.message_dict


# --------------------------------------------------------------------------- #
# Anthropic's 1-hour cache writes
# --------------------------------------------------------------------------- #
def _anthropic_message(usage: dict) -> str:
    """A Messages API response: the shape of the API reference's Message object; the usage fields
    (cache_creation.ephemeral_5m_input_tokens / ephemeral_1h_input_tokens) are those of the
    official SDK's anthropic/types/usage.py and cache_creation.py."""
    return json.dumps({
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "Hi! My name is Claude."}],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": usage,
    })


def test_one_hour_cache_writes_are_priced_at_twice_the_input_price(providers, fake):
    # Haiku 4.5: $1 in, $0.10 cache read, $1.25 5m write, $2 1h write, $5 out.
    # 100 in + 1,000 read + 2,000 (5m) x 1.25 + 3,000 (1h) x 2 + 50 out x 5
    # = 0.0001 + 0.0001 + 0.0025 + 0.006 + 0.00025 = $0.00895 (all 5,000 writes at 1.25, as before: $0.0067).
    fake.script(Reply(raw_body=_anthropic_message({
        "input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 5000,
        "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 3000},
        "service_tier": "standard",
    })), route="anthropic")
    result = complete(purpose="tests.cache1h", prompt="Hello", provider="anthropic", model="claude-haiku-4-5")
    row = LLMQuery.objects.get(pk=result.query_id)
    assert (row.input_tokens, row.cached_input_tokens, row.cache_write_input_tokens, row.cache_write_1h_input_tokens) == (
        6100, 1000, 5000, 3000)
    assert row.cost_usd == Decimal("0.00895000")


def test_cache_writes_without_the_split_count_as_five_minute_writes(providers, fake):
    # Older responses carry only cache_creation_input_tokens: 100 x 1 + 5,000 x 1.25 + 50 x 5 = $0.0066.
    fake.script(Reply(raw_body=_anthropic_message({
        "input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 5000,
    })), route="anthropic")
    result = complete(purpose="tests.cache5m", prompt="Hello", provider="anthropic", model="claude-haiku-4-5")
    row = LLMQuery.objects.get(pk=result.query_id)
    assert (row.cache_write_input_tokens, row.cache_write_1h_input_tokens) == (5000, 0)
    assert row.cost_usd == Decimal("0.00660000")


def test_a_missing_one_hour_price_falls_back_to_the_dearer_of_the_known_ones(providers):
    model = _model("anthropic", "claude-haiku-4-5")
    model.cache_write_1h_price_per_1m = None  # e.g. an admin-added model with only the 5m price
    # 3,000 1h writes at the 5m price $1.25: never at $0.
    assert cost_for(model, Usage(input_tokens=3000, cache_write_input_tokens=3000, cache_write_1h_input_tokens=3000)) == Decimal("0.00375000")


# --------------------------------------------------------------------------- #
# Images returned as a URL
# --------------------------------------------------------------------------- #
def _images_response(url: str) -> str:
    """OpenAI's ImagesResponse with a URL item (API reference: images/object: created, data[].url,
    data[].revised_prompt), as DALL-E answers by default and OpenAI-compatible servers may."""
    return json.dumps({"created": 1713833628, "data": [{"url": url, "revised_prompt": "A red square on white"}]})


def test_an_image_returned_as_a_url_is_fetched_stored_and_billed(providers, fake, owner):
    fake.script(Reply(raw_body=_images_response(f"{fake.url}/_fake/image.png")), route="openai_images")
    image = generate_image(purpose="tests.image-url", prompt="A red square", provider="openai", model="dall-e-3",
                           quality="hd", user=owner)
    row = LLMQuery.objects.get(pk=image.query_id)
    assert image.status == "completed" and image.image_path and image.revised_prompt == "A red square on white"
    assert row.status == "ok" and row.cost_usd == Decimal("0.08") == image.cost_usd  # dall-e-3 hd 1024x1024


def test_an_image_url_that_cannot_be_fetched_still_logs_the_billed_cost(providers, fake, owner):
    fake.script(Reply(raw_body=_images_response(f"{fake.url}/_fake/gone.png")), route="openai_images")
    with pytest.raises(Exception, match="HTTP 404"):
        generate_image(purpose="tests.image-url", prompt="A red square", provider="openai", model="dall-e-3", user=owner)
    row = LLMQuery.objects.get(purpose="tests.image-url")
    assert row.status == "invalid_output" and row.cost_usd == Decimal("0.04")  # standard 1024x1024: made, so billed
    assert len([r for r in fake.requests if r.route == "openai_images"]) == 1  # not bought twice


def test_an_image_url_that_is_not_http_is_refused(providers, fake, owner):
    fake.script(Reply(raw_body=_images_response("file:///etc/passwd")), route="openai_images")
    with pytest.raises(Exception, match="not http"):
        generate_image(purpose="tests.image-url", prompt="A red square", provider="openai", model="dall-e-3", user=owner)


# --------------------------------------------------------------------------- #
# The bundled list: retired models, shown on the dashboard and the call page
# --------------------------------------------------------------------------- #
def test_the_bundled_list_marks_retired_models_and_retires_rows_it_dropped(providers):
    assert _model("anthropic", "claude-opus-4-1").retired
    assert _model("anthropic", "claude-3-5-haiku-latest").retired
    assert not _model("anthropic", "claude-haiku-4-5").retired
    dropped = LLMModel.objects.create(provider=providers["openai"], name="gpt-3.5-turbo", input_price_per_1m=Decimal("0.5"),
                                      output_price_per_1m=Decimal("1.5"), price_source=LLMModel.PriceSource.BUNDLED)
    edited = LLMModel.objects.create(provider=providers["openai"], name="my-finetune", input_price_per_1m=1,
                                     output_price_per_1m=2, price_source=LLMModel.PriceSource.ADMIN)
    result = sync_bundled_prices()
    dropped.refresh_from_db()
    edited.refresh_from_db()
    assert dropped.retired and dropped.input_price_per_1m == Decimal("0.5")  # kept, priced, marked
    assert not edited.retired and result["retired"] == 1


def test_the_dashboard_shows_tier_and_one_hour_prices_and_the_call_shows_its_tier(providers, fake, client, owner):
    fake.script(Reply(text="ok", usage={"input_tokens": 250_000, "output_tokens": 10}), route="gemini")
    result = complete(purpose="tests.dash", prompt="x", provider="gemini", model="gemini-2.5-pro", user=owner)
    fake.script(Reply(text="ok", usage={"input_tokens": 10, "output_tokens": 10}), route="anthropic")
    complete(purpose="tests.dash", prompt="y", provider="anthropic", model="claude-opus-4-1", user=owner)
    client.force_login(owner)
    page = client.get(reverse("llm:dashboard")).content.decode()
    assert "above 200,000 input tokens: $2.50 in, $15.00 out, $0.25 cached" in page
    opus = page[page.index('data-model="anthropic/claude-opus-4-1"'):]
    assert "retired" in opus[:300] and 'data-price="cache_write_1h">30.000000' in opus
    detail = client.get(reverse("llm:call", args=[result.query_id])).content.decode()
    assert "long context: above 200000 input tokens" in detail and "$0.62515000" in detail


def test_tiers_and_the_1h_price_are_edited_in_admin_with_validation(providers, rf, django_user_model):
    from django.contrib.admin.sites import site
    from django.forms.models import model_to_dict

    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-123")
    request = rf.post("/admin/llm/llmmodel/")
    request.user = admin_user
    model = _model("gemini", "gemini-2.5-flash")
    model_admin = site._registry[LLMModel]
    form_class = model_admin.get_form(request, model)
    data = {k: ("" if v is None else v) for k, v in model_to_dict(model).items()}
    data.update(tiers='[{"above_input_tokens": 200000, "input": "0.60"}]', image_prices="{}")
    form = form_class(data, instance=model)
    assert not form.is_valid() and "needs an output price" in str(form.errors["tiers"])
    data.update(tiers='[{"above_input_tokens": 200000, "input": "0.60", "output": 5}]', cache_write_1h_price_per_1m="0.50")
    form = form_class(data, instance=model)
    assert form.is_valid(), form.errors
    saved = form.save(commit=False)
    model_admin.save_model(request, saved, form, change=True)
    saved.refresh_from_db()
    assert saved.tiers == [{"above_input_tokens": 200000, "input": "0.60", "output": "5"}]
    assert saved.price_source == LLMModel.PriceSource.ADMIN  # sync-prices leaves it alone from now on
    # 300,000 x 0.60 + 1,000 x 5 = 0.18 + 0.005
    assert cost_for(saved, Usage(input_tokens=300_000, output_tokens=1_000)) == Decimal("0.18500000")
