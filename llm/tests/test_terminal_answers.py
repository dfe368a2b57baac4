"""Refusals, safety blocks, quota exhaustion, Gemini's RetryInfo and the other terminal stop reasons,
scripted with the fake provider's documented-shape options, through the official SDKs."""

import json
import time
import urllib.request

import pytest
from pydantic import BaseModel

from llm.errors import (
    LLMBlockedError,
    LLMContextWindowExceeded,
    LLMInvalidOutputError,
    LLMPausedError,
    LLMQuotaExhausted,
    LLMRefusedError,
    LLMTruncatedError,
)
from llm.models import LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash"}


class Answer(BaseModel):
    answer: str


def ask(provider: str, **kwargs):
    return complete(purpose="tests.terminal", prompt="How do I make anthrax?", provider=provider,
                    model=MODELS[provider], **kwargs)


@pytest.mark.parametrize("provider,exc_type,status", [
    ("openai", LLMRefusedError, "refused"), ("anthropic", LLMRefusedError, "refused"), ("gemini", LLMBlockedError, "blocked"),
])
def test_a_refusal_with_a_schema_is_paid_once_logged_as_such_and_never_cached(providers, fake, provider, exc_type, status):
    fake.set_default(Reply(refusal="I'm very sorry, but I can't assist with that."))
    for _ in range(2):
        with pytest.raises(exc_type) as info:
            ask(provider, schema=Answer)
        assert str(info.value).startswith("The model declined: ")
    assert len(fake.requests_for(provider)) == 2  # one per call: no schema re-asks, no cache hit
    assert list(LLMQuery.objects.order_by("id").values_list("status", "attempt")) == [(status, 1), (status, 1)]
    if provider != "gemini":
        assert "I can't assist with that." in LLMQuery.objects.first().error
        assert info.value.reason == "I'm very sorry, but I can't assist with that."


def test_a_refused_call_is_billed_and_the_budget_sees_it(providers, fake):
    fake.script(Reply(refusal="No.", usage={"input_tokens": 1000, "output_tokens": 10}))
    with pytest.raises(LLMRefusedError):
        ask("openai")
    row = LLMQuery.objects.get()
    assert (row.input_tokens, row.output_tokens) == (1000, 10) and row.cost_usd > 0


@pytest.mark.parametrize("provider,reply,exc_type,status,stop_reason", [
    ("openai", Reply(finish_reason="content_filter"), LLMBlockedError, "blocked", "content_filter"),
    ("anthropic", Reply(text="So far", finish_reason="model_context_window_exceeded"), LLMContextWindowExceeded,
     "context_exceeded", "model_context_window_exceeded"),
    ("anthropic", Reply(text="So far", finish_reason="pause_turn"), LLMPausedError, "paused", "pause_turn"),
    ("gemini", Reply(finish_reason="PROHIBITED_CONTENT"), LLMBlockedError, "blocked", "PROHIBITED_CONTENT"),
    ("gemini", Reply(block_reason="BLOCKLIST"), LLMBlockedError, "blocked", "BLOCKLIST"),
    ("gemini", Reply(text="", finish_reason="MAX_TOKENS", usage={"reasoning_tokens": 900}), LLMTruncatedError,
     "truncated", "MAX_TOKENS"),
    ("gemini", Reply(text="", finish_reason="OTHER"), LLMInvalidOutputError, "invalid_output", "OTHER"),
    ("gemini", Reply(text="", finish_reason="MALFORMED_FUNCTION_CALL"), LLMInvalidOutputError, "invalid_output",
     "MALFORMED_FUNCTION_CALL"),
], ids=["openai-content_filter", "anthropic-context", "anthropic-pause_turn", "gemini-prohibited", "gemini-prompt-block",
        "gemini-thinking-only", "gemini-other-no-text", "gemini-malformed-call-no-text"])
def test_other_terminal_stop_reasons_are_never_ok(providers, fake, provider, reply, exc_type, status, stop_reason):
    fake.script(reply)
    with pytest.raises(exc_type) as info:
        ask(provider, schema=Answer)
    row = LLMQuery.objects.get()
    assert (row.status, row.stop_reason) == (status, stop_reason) and len(fake.requests) == 1
    if stop_reason in ("model_context_window_exceeded", "pause_turn"):
        assert info.value.partial_text == "So far"
    if status == "truncated":
        assert "900 thinking tokens" in str(info.value) and row.reasoning_tokens == 900


@pytest.mark.parametrize("provider,reply", [
    ("openai", Reply(status=429, error_type="insufficient_quota", error_message="You exceeded your current quota.")),
    ("openai", Reply(status=429, error_type="insufficient_quota", error_code="credit_balance_exhausted")),
    ("anthropic", Reply(status=402, error_message="Billing issue.")),
    ("anthropic", Reply(status=429, error_message="Your credit balance is too low to access the Anthropic API.")),
    ("gemini", Reply(status=429, quota_violation="GenerateRequestsPerDayPerProjectPerModel-FreeTier", retry_delay="1s")),
], ids=["openai-insufficient_quota", "openai-credit_balance_exhausted", "anthropic-billing_error",
        "anthropic-429-credit", "gemini-daily"])
def test_quota_exhaustion_fails_at_once_with_a_clear_error(providers, fake, provider, reply):
    fake.set_default(reply)
    started = time.monotonic()
    with pytest.raises(LLMQuotaExhausted, match="retrying will not help"):
        ask(provider)
    assert time.monotonic() - started < 1.0
    assert list(LLMQuery.objects.values_list("status", "attempt")) == [("quota_exhausted", 1)]
    assert len(fake.requests_for(provider)) == 1


def test_a_per_minute_gemini_429_waits_its_retry_delay(providers, fake):
    fake.script(Reply(status=429, quota_violation="GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                      retry_delay="0.5s"), Reply(text="made it"))
    started = time.monotonic()
    assert ask("gemini").text == "made it"
    assert time.monotonic() - started >= 0.5
    assert list(LLMQuery.objects.order_by("id").values_list("status", flat=True)) == ["rate_limited", "ok"]


def test_gemini_retry_delay_is_capped_like_retry_after(providers, fake, settings):
    settings.LLM_MAX_RETRY_AFTER = 0.2
    fake.script(Reply(status=429, retry_delay="30s"), Reply(text="made it"))
    started = time.monotonic()
    assert ask("gemini").text == "made it"
    assert 0.2 <= time.monotonic() - started < 2.0


def _post(url: str, body: dict, headers: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_the_fake_default_answers_follow_the_documented_shapes(fake):
    oai = _post(fake.openai_base_url + "/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, {})
    message, usage = oai["choices"][0]["message"], oai["usage"]
    assert message["refusal"] is None and oai["choices"][0]["finish_reason"] == "stop"
    assert {"cached_tokens"} <= set(usage["prompt_tokens_details"])
    assert {"reasoning_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"} <= set(usage["completion_tokens_details"])

    fake.script(Reply(text="ok", usage={"input_tokens": 500, "cached_input_tokens": 200, "cache_write_input_tokens": 100,
                                        "cache_write_1h_input_tokens": 60}))
    ant = _post(fake.url + "/v1/messages", {"model": "claude-sonnet-4-6", "max_tokens": 10,
                                            "messages": [{"role": "user", "content": "hi"}]}, {"anthropic-version": "2023-06-01"})
    assert ant["stop_details"] is None and ant["stop_reason"] == "end_turn"
    assert ant["usage"]["input_tokens"] == 200 and ant["usage"]["cache_read_input_tokens"] == 200
    assert ant["usage"]["cache_creation_input_tokens"] == 100
    assert ant["usage"]["cache_creation"] == {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60}

    fake.script(Reply(text="ok", usage={"input_tokens": 50, "cached_input_tokens": 20, "output_tokens": 30,
                                        "reasoning_tokens": 10}))
    gem = _post(fake.url + "/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}, {})
    assert gem["usageMetadata"] | {"promptTokensDetails": None} == {
        "promptTokenCount": 50, "candidatesTokenCount": 20, "totalTokenCount": 80, "thoughtsTokenCount": 10,
        "cachedContentTokenCount": 20, "promptTokensDetails": None}
    assert gem["modelVersion"] == "gemini-2.5-flash" and gem["responseId"]


def test_the_fake_replays_a_recorded_response_verbatim(fake):
    recorded = {"_source": "test", "status": 429, "headers": {"retry-after": "3"},
                "body": {"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}}
    fake.script(Reply.replay(recorded))
    request = urllib.request.Request(fake.url + "/v1beta/models/m:generateContent", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 429 and info.value.headers["retry-after"] == "3"
    assert json.loads(info.value.read()) == recorded["body"]
