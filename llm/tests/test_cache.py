"""The shared answer cache: hits cost nothing, say what they saved, honour TTL and bypass."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from pydantic import BaseModel

from llm.calls.cache import prune_expired
from llm.models import LLMCacheEntry, LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


class Answer(BaseModel):
    value: int


def _ask(**kw):
    return complete(purpose="tests.cache", prompt="What is 6 x 7?", provider="openai", model="gpt-4o", **kw)


def test_an_identical_request_is_answered_from_the_cache(providers, fake):
    fake.script(Reply(text="42", usage={"input_tokens": 1000, "output_tokens": 100}, delay=0.2))
    miss = _ask()
    hit = _ask()
    assert hit.text == "42" and hit.status == "cache_hit" and hit.cost_usd == 0
    assert len(fake.requests) == 1
    row = LLMQuery.objects.get(pk=hit.query_id)
    assert row.status == "cache_hit" and row.cost_usd == 0
    assert row.saved_cost_usd == miss.cost_usd == Decimal("0.00350000")
    assert row.file_path == miss.file_path and row.output_tokens == 100
    assert hit.latency_ms < miss.latency_ms
    assert LLMCacheEntry.objects.get().hits == 1


def test_a_different_request_is_a_miss(providers, fake):
    _ask()
    complete(purpose="tests.cache", prompt="What is 6 x 8?", provider="openai", model="gpt-4o")
    _ask(max_tokens=50)  # other parameters, other key
    complete(purpose="tests.cache", prompt="What is 6 x 7?", provider="openai", model="gpt-4o-mini")
    assert len(fake.requests) == 4


def test_bypass_calls_the_provider_and_refreshes_the_entry(providers, fake):
    fake.script(Reply(text="first"), Reply(text="second"))
    _ask()
    assert _ask(cache=False).text == "second"
    assert _ask().text == "second"
    assert len(fake.requests) == 2


def test_expired_entries_are_not_used_and_are_pruned(providers, fake):
    _ask(cache_ttl=60)
    LLMCacheEntry.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    _ask()
    assert len(fake.requests) == 2
    LLMCacheEntry.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert prune_expired() == 1 and not LLMCacheEntry.objects.exists()


def test_structured_answers_come_back_parsed_from_the_cache(providers, fake):
    fake.script(Reply(json={"value": 42}))
    first = _ask(schema=Answer)
    second = _ask(schema=Answer)
    assert first.parsed == second.parsed == Answer(value=42) and second.status == "cache_hit"


def test_failed_answers_are_never_cached(providers, fake, settings):
    settings.LLM_VALIDATION_RETRIES = 0
    fake.script(Reply(text="not json"), Reply(json={"value": 1}))
    with pytest.raises(Exception):
        _ask(schema=Answer)
    assert not LLMCacheEntry.objects.exists()
    assert _ask(schema=Answer).parsed.value == 1


def test_cache_hit_latency_is_far_below_a_miss(providers, fake, capsys):
    fake.set_default(Reply(text="slowish", delay=0.05))
    misses, hits = [], []
    for i in range(20):
        started = time.perf_counter()
        complete(purpose="tests.cache", prompt=f"question {i}", provider="openai", model="gpt-4o")
        misses.append(time.perf_counter() - started)
        started = time.perf_counter()
        complete(purpose="tests.cache", prompt=f"question {i}", provider="openai", model="gpt-4o")
        hits.append(time.perf_counter() - started)
    misses.sort(), hits.sort()
    print(f"\ncache latency p50: miss {misses[10] * 1000:.1f} ms, hit {hits[10] * 1000:.1f} ms")
    assert hits[10] < misses[10]
