"""llm.complete against the official SDKs talking to the fake provider server."""

import hashlib
import json
import time
from decimal import Decimal

import pytest
from pydantic import BaseModel

from llm.records import interactions
from llm.errors import (
    LLMConfigurationError,
    LLMInvalidOutputError,
    LLMRequestRejected,
    LLMTruncatedError,
    LLMUnavailableError,
)
from llm.models import LLMModel, LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


class Capital(BaseModel):
    country: str
    capital: str
    population_millions: float


def _file_bytes(row: LLMQuery) -> bytes:
    return interactions.read(row.file_path)


def test_it_returns_text_and_logs_tokens_cost_and_a_matching_file(providers, fake, owner):
    fake.script(Reply(text="Paris is the capital of France.", usage={"input_tokens": 1000, "output_tokens": 200}))
    result = complete(purpose="tests.text", prompt="What is the capital of France?", provider="openai",
                      model="gpt-4o-mini", user=owner)
    assert result.text == "Paris is the capital of France."
    row = LLMQuery.objects.get(pk=result.query_id)
    assert row.status == "ok" and row.attempt == 1 and row.user == owner
    assert (row.input_tokens, row.output_tokens) == (1000, 200)
    # gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens
    assert row.cost_usd == Decimal("0.00027000") == result.cost_usd
    data = _file_bytes(row)
    assert hashlib.sha256(data).hexdigest() == row.file_sha256
    assert row.file_path.startswith("llm_logs/adhoc/")
    doc = json.loads(data)
    assert doc["response"] == "Paris is the capital of France."
    assert doc["metadata"]["model"] == "gpt-4o-mini" and doc["metadata"]["query_id"] == row.pk
    assert "What is the capital of France?" in doc["prompt"]
    sent = fake.requests[-1]
    assert sent.route == "openai" and sent.body["model"] == "gpt-4o-mini"


def test_it_never_writes_the_api_key_into_files_or_rows(providers, fake):
    result = complete(purpose="tests.secret", prompt="hello", provider="openai", model="gpt-4o")
    row = LLMQuery.objects.get(pk=result.query_id)
    assert b"sk-test-openai-0000" not in _file_bytes(row)
    assert "sk-test-openai-0000" not in json.dumps(row.params)


def test_it_prices_cached_and_reasoning_tokens_as_the_provider_does(providers, fake):
    fake.script(Reply(text="ok", usage={"input_tokens": 1000, "cached_input_tokens": 200, "output_tokens": 500,
                                        "reasoning_tokens": 100}))
    result = complete(purpose="tests.cost", prompt="x", provider="openai", model="gpt-4o")
    row = LLMQuery.objects.get(pk=result.query_id)
    assert (row.cached_input_tokens, row.reasoning_tokens) == (200, 100)
    # gpt-4o: 800 uncached x $2.50 + 200 cached x $1.25 + 500 out (reasoning included) x $10, per 1M
    assert row.cost_usd == Decimal("0.00725000")


def test_it_waits_out_retry_after_then_succeeds(providers, fake):
    fake.script(Reply(status=429, retry_after=1, error_message="slow down"), Reply(text="made it"))
    started = time.monotonic()
    result = complete(purpose="tests.retry", prompt="hi", provider="openai", model="gpt-4o-mini")
    elapsed = time.monotonic() - started
    assert result.text == "made it"
    assert elapsed >= 1.0, "Retry-After: 1 must be honoured"
    rows = list(LLMQuery.objects.order_by("id"))
    assert [(r.status, r.attempt, r.http_status) for r in rows] == [("rate_limited", 1, 429), ("ok", 2, 200)]
    assert rows[0].file_path and "slow down" in rows[0].error


@pytest.mark.parametrize("reply", [
    Reply(status=500), Reply(status=503), Reply(drop=True), Reply(status=408), Reply(status=409),
], ids=["500", "503", "dropped", "408", "409"])
def test_it_retries_transient_failures(providers, fake, reply):
    fake.script(reply, Reply(text="recovered"))
    result = complete(purpose="tests.retry", prompt="hi", provider="openai", model="gpt-4o-mini")
    assert result.text == "recovered" and result.attempts == 2
    first = LLMQuery.objects.order_by("id").first()
    assert first.status in ("error", "timeout") and first.error


def test_it_retries_after_a_timeout(providers, fake):
    providers["openai"].timeout_seconds = 0.5
    providers["openai"].save()
    fake.script(Reply(text="too late", delay=2), Reply(text="on time"))
    result = complete(purpose="tests.timeout", prompt="hi", provider="openai", model="gpt-4o-mini")
    assert result.text == "on time"
    assert LLMQuery.objects.order_by("id").first().status == "timeout"


def test_retries_are_bounded(providers, fake, settings):
    settings.LLM_MAX_ATTEMPTS = 3
    fake.set_default(Reply(status=503, error_message="overloaded"))
    with pytest.raises(LLMUnavailableError, match="after 3 attempts"):
        complete(purpose="tests.bounded", prompt="hi", provider="openai", model="gpt-4o-mini")
    assert list(LLMQuery.objects.values_list("status", flat=True)) == ["error"] * 3
    assert len(fake.requests_for("openai")) == 3


@pytest.mark.parametrize("status,needle", [(401, "API key was refused"), (403, "no access"), (404, "does not exist"),
                                           (400, "rejected the request")])
def test_it_fails_at_once_on_client_errors_with_a_clear_message(providers, fake, status, needle):
    fake.set_default(Reply(status=status, error_message="nope"))
    started = time.monotonic()
    with pytest.raises(LLMRequestRejected) as info:
        complete(purpose="tests.reject", prompt="hi", provider="openai", model="gpt-4o-mini")
    assert time.monotonic() - started < 1.0
    message = str(info.value)
    assert "OpenAI" in message and "gpt-4o-mini" in message and needle in message
    assert LLMQuery.objects.count() == 1 and len(fake.requests_for("openai")) == 1
    assert LLMQuery.objects.get().status == "error"


def test_an_unknown_model_logs_cost_null_never_zero(providers, fake):
    result = complete(purpose="tests.unknown", prompt="hi", provider="openai", model="mystery-model-9")
    row = LLMQuery.objects.get(pk=result.query_id)
    assert row.status == "ok" and row.output_tokens > 0
    assert row.cost_usd is None and result.cost_usd is None
    model = LLMModel.objects.get(name="mystery-model-9")
    assert model.price_source == "unknown" and not model.price_known
    assert LLMModel.objects.price_unknown().filter(pk=model.pk).exists()


def test_structured_output_uses_the_native_schema_mode_and_validates(providers, fake):
    fake.script(Reply(json={"country": "France", "capital": "Paris", "population_millions": 2.1}))
    result = complete(purpose="tests.structured", prompt="Capital of France?", provider="openai",
                      model="gpt-4o-mini", schema=Capital)
    assert result.parsed == Capital(country="France", capital="Paris", population_millions=2.1)
    body = fake.requests[-1].body
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == {"country", "capital", "population_millions"}


def test_it_strips_code_fences_and_repairs_before_failing(providers, fake):
    fake.script(Reply(text='Sure!\n```json\n{"country": "Italy", "capital": "Rome", "population_millions": 2.8,}\n```'))
    result = complete(purpose="tests.repair", prompt="Italy?", provider="openai", model="gpt-4o-mini", schema=Capital)
    assert result.parsed.capital == "Rome" and result.attempts == 1


def test_it_reasks_with_the_retry_prompt_quoting_the_validation_error(providers, fake):
    fake.script(Reply(json={"country": "Spain", "capital": "Madrid"}),
                Reply(json={"country": "Spain", "capital": "Madrid", "population_millions": 3.3}))
    result = complete(purpose="tests.reask", prompt="Spain?", provider="openai", model="gpt-4o-mini", schema=Capital)
    assert result.parsed.population_millions == 3.3
    rows = list(LLMQuery.objects.order_by("id"))
    assert [(r.status, r.attempt) for r in rows] == [("invalid_output", 1), ("ok", 2)]
    assert "population_millions" in rows[0].error
    retry_messages = fake.requests[-1].body["messages"]
    assert retry_messages[-2]["role"] == "assistant"
    assert "could not be used" in retry_messages[-1]["content"] and "population_millions" in retry_messages[-1]["content"]


def test_it_gives_up_after_the_validation_retries(providers, fake, settings):
    settings.LLM_VALIDATION_RETRIES = 2
    fake.set_default(Reply(text="I think the capital is Paris."))
    with pytest.raises(LLMInvalidOutputError) as info:
        complete(purpose="tests.invalid", prompt="France?", provider="openai", model="gpt-4o-mini", schema=Capital)
    assert "after 3 tries" in str(info.value) and info.value.last_text.startswith("I think")
    assert list(LLMQuery.objects.values_list("status", flat=True)) == ["invalid_output"] * 3


def test_a_truncated_answer_is_never_parsed_as_success(providers, fake):
    fake.script(Reply(json={"country": "France", "capital": "Paris", "population_millions": 2.1}, truncated=True))
    with pytest.raises(LLMTruncatedError) as info:
        complete(purpose="tests.truncated", prompt="x", provider="openai", model="gpt-4o-mini", schema=Capital, max_tokens=10)
    row = LLMQuery.objects.get()
    assert row.status == "truncated" and "10-token" in row.error
    assert info.value.partial_text and info.value.query_id == row.pk


def test_anthropic_structured_output_through_a_forced_tool(providers, fake):
    fake.script(Reply(json={"country": "Japan", "capital": "Tokyo", "population_millions": 14.0},
                      usage={"input_tokens": 2000, "cached_input_tokens": 1000, "output_tokens": 100}))
    result = complete(purpose="tests.anthropic", system="Be exact.", prompt="Japan?", provider="anthropic",
                      model="claude-sonnet-4-5", schema=Capital)
    assert result.parsed.capital == "Tokyo"
    body = fake.requests[-1].body
    assert body["tool_choice"] == {"type": "tool", "name": "Capital"} and body["system"] == "Be exact."
    row = LLMQuery.objects.get(pk=result.query_id)
    assert (row.input_tokens, row.cached_input_tokens, row.output_tokens) == (2000, 1000, 100)
    # Sonnet: 1000 x $3 + 1000 cached x $0.30 + 100 x $15, per 1M
    assert row.cost_usd == Decimal("0.00480000")


def test_it_leaves_temperature_out_of_anthropic_requests(providers, fake):
    # anthropic-sdk-python 2.x sends API version 2026-10-21, which refuses temperature/top_p/top_k
    # with a 400, and its create() has no temperature argument: before, any temperature raised a TypeError.
    fake.script(Reply(text="fine"))
    result = complete(purpose="tests.temp", prompt="x", provider="anthropic", model="claude-haiku-4-5", temperature=0.2)
    assert result.text == "fine"
    assert "temperature" not in fake.requests[-1].body


def test_anthropic_429_is_retried(providers, fake):
    fake.script(Reply(status=429, retry_after=0), Reply(text="fine"))
    assert complete(purpose="tests.a429", prompt="x", provider="anthropic", model="claude-haiku-4-5").text == "fine"


def test_gemini_text_with_thinking_tokens_billed_as_output(providers, fake):
    fake.script(Reply(text="Bonjour", usage={"input_tokens": 100, "output_tokens": 300, "reasoning_tokens": 200}))
    result = complete(purpose="tests.gemini", prompt="Say hello in French", provider="gemini", model="gemini-2.5-flash")
    assert result.text == "Bonjour"
    row = LLMQuery.objects.get(pk=result.query_id)
    assert (row.output_tokens, row.reasoning_tokens) == (300, 200)
    # gemini-2.5-flash: 100 x $0.30 + 300 x $2.50, per 1M
    assert row.cost_usd == Decimal("0.00078000")


def test_gemini_structured_and_retry_on_500(providers, fake):
    fake.script(Reply(status=500), Reply(json={"country": "Peru", "capital": "Lima", "population_millions": 10.0}))
    result = complete(purpose="tests.gemini", prompt="Peru?", provider="gemini", model="gemini-2.0-flash", schema=Capital)
    assert result.parsed.capital == "Lima" and result.attempts == 2
    assert fake.requests[-1].body["generationConfig"]["responseMimeType"] == "application/json"


def test_an_openai_compatible_server_is_called_at_its_base_url(providers, fake):
    result = complete(purpose="tests.compat", prompt="hello there", provider="ollama", model="llama3.2")
    assert result.text.startswith("Fake answer")
    assert fake.requests[-1].path == "/v1/chat/completions" and fake.requests[-1].body["model"] == "llama3.2"
    assert LLMQuery.objects.get(pk=result.query_id).cost_usd is None  # no price for a local model


def test_run_calls_are_filed_in_the_seed_layout(providers, fake):
    run_id = "RUN_20250618T120301Z_8d24"
    result = complete(purpose="segmentation.extract_taxonomy", prompt="x", provider="openai", model="gpt-4o",
                      run=run_id, interaction_type="segmentation", batch=1, context={"batch_size": 2})
    row = LLMQuery.objects.get(pk=result.query_id)
    assert row.run_id == run_id
    prefix = f"llm_logs/{run_id}/segmentation/"
    assert row.file_path.startswith(prefix)
    name = row.file_path[len(prefix):]
    ts, batch, attempt, short = name.removesuffix(".json").split("_")
    assert len(ts) == 16 and ts.endswith("Z") and batch == "b1" and attempt == "a1" and len(short) == 8
    doc = json.loads(_file_bytes(row))
    assert doc["context"] == {"batch_size": 2} and doc["metadata"]["run_id"] == run_id


def test_a_provider_without_a_key_is_refused_before_anything_is_sent(providers, fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(LLMConfigurationError, match="OPENAI_API_KEY"):
        complete(purpose="tests.nokey", prompt="x", provider="openai", model="gpt-4o")
    assert not fake.requests and not LLMQuery.objects.exists()


def test_the_default_provider_is_manual_when_no_key_is_configured(db, monkeypatch):
    from llm.bootstrap import ensure_defaults
    from llm.providers import default_provider

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    ensure_defaults()
    assert default_provider().kind == "manual"
    monkeypatch.setenv("GEMINI_API_KEY", "x")
    assert default_provider().name == "gemini"


TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@pytest.mark.parametrize("provider,model", [("openai", "gpt-4o"), ("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.0-flash")])
def test_images_reach_each_provider_in_its_own_wire_format(providers, fake, provider, model):
    from llm.calls import image_part

    content = [{"type": "text", "text": "Describe this mockup"}, image_part(TINY_PNG, "image/png")]
    result = complete(purpose="tests.vision", messages=[{"role": "user", "content": content}], provider=provider, model=model)
    body = json.dumps(fake.requests[-1].body)
    assert "Describe this mockup" in body
    assert {"openai": "data:image/png;base64,", "anthropic": '"media_type": "image/png"', "gemini": '"inlineData"'}[provider] in body
    doc = json.loads(_file_bytes(LLMQuery.objects.get(pk=result.query_id)))
    image = doc["messages"][-1]["content"][1]
    assert image["sha256"] == hashlib.sha256(TINY_PNG).hexdigest() and "data" not in image  # bytes not copied into the log


def test_images_are_refused_for_a_model_without_vision(providers, fake):
    from llm.calls import image_part

    content = [{"type": "text", "text": "x"}, image_part(TINY_PNG, "image/png")]
    with pytest.raises(LLMConfigurationError, match="does not accept images"):
        complete(purpose="tests.vision", messages=[{"role": "user", "content": content}], provider="openai", model="o3-mini")
    assert not fake.requests
