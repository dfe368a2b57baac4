"""Contract tests: responses recorded from the providers' documents and the official SDKs' own test
fixtures (``llm/tests/fixtures/wire/<provider>/*.json``, each saying where it came from in
``_source``), replayed over HTTP on loopback by the fake provider and read by the official SDKs
through ``llm.complete()``. They check what the LLMQuery row says: status, text, usage, attempts,
the stop reason and the error, and which exception the caller gets.
"""

import json
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from llm.errors import (
    LLMBlockedError,
    LLMContextWindowExceeded,
    LLMPausedError,
    LLMQuotaExhausted,
    LLMRefusedError,
    LLMRequestRejected,
    LLMTruncatedError,
    LLMUnavailableError,
)
from llm.models import LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db

WIRE = Path(__file__).resolve().parent.parent / "fixtures" / "wire"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash"}


class Location(BaseModel):
    city: str
    temperature: float
    units: str


class Weather(BaseModel):
    location: str
    unit: str


def recorded(name: str) -> Reply:
    data = json.loads((WIRE / f"{name}.json").read_text())
    assert data.get("_source"), f"{name}.json must say where its shape came from"
    return Reply.replay(data)


def call(name: str, schema=None, **kwargs):
    provider = name.split("/")[0]
    return complete(purpose="tests.contract", prompt="What's the weather like in SF?", provider=provider,
                    model=MODELS[provider], schema=schema, **kwargs)


def usage_of(row: LLMQuery) -> tuple:
    return (row.input_tokens, row.cached_input_tokens, row.cache_write_input_tokens, row.output_tokens,
            row.reasoning_tokens)


# (fixture, schema, text, usage (in, cached in, cache writes, out, reasoning), stop_reason on the row)
ANSWERS = [
    ("openai/text", None, "I'm unable to provide real-time weather updates.", (14, 0, 0, 37, 0), "stop"),
    ("openai/structured", Location, '{"city":"San Francisco"', (79, 0, 0, 14, 0), "stop"),
    ("openai/cached_reasoning", None, "The answer is 42.", (2006, 1920, 0, 300, 256), "stop"),
    ("anthropic/text", None, "Hi! My name is Claude.", (2095, 0, 0, 503, 0), "end_turn"),
    ("anthropic/tool_use", Weather, '{"location": "San Francisco, CA"', (472, 0, 0, 44, 0), "tool_use"),
    # Anthropic's input_tokens leaves cache reads and writes out; ours counts all of them.
    ("anthropic/cache_usage", None, "The book is about a white whale.", (5021, 4000, 1000, 393, 120), "end_turn"),
    ("gemini/text", None, "This recipe makes a moist and delicious banana bread!", (9, 0, 0, 11, 0), "STOP"),
    # Gemini's candidatesTokenCount leaves the thoughts out; they are billed as output.
    ("gemini/thinking_usage", None, "There isn't a single", (7, 0, 0, 1946, 860), "STOP"),
    ("gemini/structured", Location, '{"city": "San Francisco"', (30, 0, 0, 18, 0), "STOP"),
    ("gemini/cached", None, "The transcript describes", (696219, 696190, 0, 214, 0), "STOP"),
]


@pytest.mark.parametrize("name,schema,text,usage,stop_reason", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_a_documented_answer_is_logged_ok_with_its_usage(providers, fake, name, schema, text, usage, stop_reason):
    fake.script(recorded(name))
    result = call(name, schema=schema)
    row = LLMQuery.objects.get(pk=result.query_id)
    assert row.status == "ok" and row.attempt == 1 and result.attempts == 1
    assert result.text.startswith(text)
    assert usage_of(row) == usage
    assert row.stop_reason == stop_reason and row.error == ""
    if schema is not None:
        assert isinstance(result.parsed, schema)


# (fixture, schema, status, exception, words in the row's error and the exception, stop_reason)
TERMINAL = [
    ("openai/length", Location, "truncated", LLMTruncatedError, "output limit", "length"),
    ("openai/refusal", None, "refused", LLMRefusedError, "I'm very sorry, but I can't assist with that.", "stop"),
    ("openai/refusal", Location, "refused", LLMRefusedError, "I'm very sorry, but I can't assist with that.", "stop"),
    ("openai/content_filter", None, "blocked", LLMBlockedError, "content filter", "content_filter"),
    ("openai/content_filter", Location, "blocked", LLMBlockedError, "content filter", "content_filter"),
    ("anthropic/max_tokens", None, "truncated", LLMTruncatedError, "output limit", "max_tokens"),
    ("anthropic/refusal", None, "refused", LLMRefusedError, "cyber: This request was refused due to policy.", "refusal"),
    ("anthropic/refusal", Weather, "refused", LLMRefusedError, "cyber: This request was refused due to policy.", "refusal"),
    ("anthropic/context_window_exceeded", None, "context_exceeded", LLMContextWindowExceeded, "context window",
     "model_context_window_exceeded"),
    ("anthropic/pause_turn", None, "paused", LLMPausedError, "paused", "pause_turn"),
    ("gemini/max_tokens", None, "truncated", LLMTruncatedError, "output limit", "MAX_TOKENS"),
    ("gemini/max_tokens_thinking_only", Location, "truncated", LLMTruncatedError, "1023 thinking tokens", "MAX_TOKENS"),
    ("gemini/safety", None, "blocked", LLMBlockedError, "SAFETY; HARM_CATEGORY_SEXUALLY_EXPLICIT: HIGH", "SAFETY"),
    ("gemini/safety", Location, "blocked", LLMBlockedError, "SAFETY", "SAFETY"),
    ("gemini/prohibited_content", None, "blocked", LLMBlockedError, "PROHIBITED_CONTENT", "PROHIBITED_CONTENT"),
    ("gemini/blocklist", None, "blocked", LLMBlockedError, "BLOCKLIST", "BLOCKLIST"),
    ("gemini/spii", None, "blocked", LLMBlockedError, "SPII", "SPII"),
    ("gemini/recitation", Location, "blocked", LLMBlockedError, "RECITATION", "RECITATION"),
    ("gemini/prompt_blocked", None, "blocked", LLMBlockedError, "the prompt was blocked (SAFETY", "SAFETY"),
]


@pytest.mark.parametrize("name,schema,status,exc_type,words,stop_reason", TERMINAL,
                         ids=[f"{t[0]}{'+schema' if t[1] else ''}" for t in TERMINAL])
def test_a_terminal_answer_gets_its_own_status_one_call_and_no_cache(providers, fake, name, schema, status, exc_type,
                                                                     words, stop_reason):
    fake.script(recorded(name), recorded(name))
    with pytest.raises(exc_type) as info:
        call(name, schema=schema)
    row = LLMQuery.objects.get()
    assert (row.status, row.attempt, row.http_status, row.stop_reason) == (status, 1, 200, stop_reason)
    assert words in row.error and words in str(info.value)
    assert info.value.query_id == row.pk
    assert len(fake.requests) == 1, "paid once: never re-asked by the retry loops"
    if exc_type in (LLMRefusedError, LLMBlockedError):
        assert str(info.value).startswith("The model declined: ")
        assert words in info.value.reason
    # Never cached: the same call asks the provider again.
    with pytest.raises(exc_type):
        call(name, schema=schema)
    assert len(fake.requests) == 2 and not LLMQuery.objects.filter(status="cache_hit").exists()


# (fixture, status, exception, words in the row's error)
FAILURES = [
    ("openai/401", "error", LLMRequestRejected, "API key was refused"),
    ("openai/429_insufficient_quota", "quota_exhausted", LLMQuotaExhausted, "out of credit or quota (insufficient_quota)"),
    ("anthropic/401", "error", LLMRequestRejected, "API key was refused"),
    ("anthropic/400_credit_balance", "quota_exhausted", LLMQuotaExhausted, "Your credit balance is too low"),
    ("anthropic/400_usage_limit", "quota_exhausted", LLMQuotaExhausted, "reached your specified API usage limits"),
    ("gemini/400_api_key_invalid", "error", LLMRequestRejected, "API key was refused"),
    ("gemini/429_daily_quota", "quota_exhausted", LLMQuotaExhausted,
     "daily quota used up (GenerateRequestsPerDayPerProjectPerModel-FreeTier)"),
]


@pytest.mark.parametrize("name,status,exc_type,words", FAILURES, ids=[f[0] for f in FAILURES])
def test_a_failure_that_retrying_cannot_fix_fails_at_once(providers, fake, name, status, exc_type, words):
    fake.set_default(recorded(name))
    started = time.monotonic()
    with pytest.raises(exc_type) as info:
        call(name)
    assert time.monotonic() - started < 1.0
    row = LLMQuery.objects.get()
    assert (row.status, row.attempt) == (status, 1) and row.http_status == recorded(name).status
    assert words in row.error and words in str(info.value)
    assert len(fake.requests) == 1
    if status == "quota_exhausted":
        assert "retrying will not help" in str(info.value)


# (fixture of the first answer, the least wait, the most wait, the first row's status)
RETRIED = [
    ("openai/429_rate_limit", 0.6, 5.0, "rate_limited"),  # retry-after-ms: 600
    ("openai/429_no_headers", 0.0, 1.0, "rate_limited"),
    ("openai/500", 0.0, 1.0, "error"),
    ("anthropic/429_retry_after", 1.0, 5.0, "rate_limited"),  # retry-after: 1
    ("anthropic/529_overloaded", 0.0, 1.0, "error"),
    ("gemini/429_retry_info", 0.3, 3.0, "rate_limited"),  # retryDelay 53s, capped at LLM_MAX_RETRY_AFTER
    ("gemini/429_no_details", 0.0, 1.0, "rate_limited"),
    ("gemini/503", 0.0, 1.0, "error"),
]


@pytest.mark.parametrize("name,least,most,first_status", RETRIED, ids=[r[0] for r in RETRIED])
def test_a_transient_failure_is_retried_after_the_wait_it_asks_for(providers, fake, settings, name, least, most,
                                                                   first_status):
    settings.LLM_MAX_RETRY_AFTER = 0.3 if name == "gemini/429_retry_info" else 120.0
    provider = name.split("/")[0]
    fake.script(recorded(name), recorded(f"{provider}/text"))
    started = time.monotonic()
    result = call(name)
    elapsed = time.monotonic() - started
    assert least <= elapsed < most
    rows = list(LLMQuery.objects.order_by("id"))
    assert [(r.status, r.attempt) for r in rows] == [(first_status, 1), ("ok", 2)] and result.attempts == 2
    assert rows[0].http_status == recorded(name).status and rows[0].error


def test_5xx_that_never_ends_gives_up_after_the_configured_attempts(providers, fake, settings):
    settings.LLM_MAX_ATTEMPTS = 3
    fake.set_default(recorded("anthropic/529_overloaded"))
    with pytest.raises(LLMUnavailableError, match="after 3 attempts") as info:
        call("anthropic/529_overloaded")
    assert "Overloaded" in str(info.value)
    assert list(LLMQuery.objects.values_list("status", "http_status")) == [("error", 529)] * 3


def test_every_fixture_names_its_source_and_is_used():
    names = {str(p.relative_to(WIRE).with_suffix("")) for p in WIRE.glob("*/*.json")}
    used = {a[0] for a in ANSWERS} | {t[0] for t in TERMINAL} | {f[0] for f in FAILURES} | {r[0] for r in RETRIED}
    assert names == used
    for name in names:
        assert json.loads((WIRE / f"{name}.json").read_text())["_source"].strip()
