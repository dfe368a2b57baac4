"""llm.stream(): each official SDK's streaming API against the fake provider's SSE, the row it
logs, and the ways a stream ends early."""

from decimal import Decimal

import pytest

import llm
from llm.errors import LLMInvalidOutputError, LLMStreamInterrupted
from llm.records.interactions import read
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

PROVIDERS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.0-flash")]


def _read_all(s):
    return list(s)


@pytest.mark.django_db
@pytest.mark.parametrize("provider,model", PROVIDERS)
def test_it_streams_chunks_and_logs_one_row_with_the_reported_usage(providers, fake, owner, provider, model):
    fake.script(Reply(text="The quick brown fox jumps over the lazy dog.", usage={"input_tokens": 21, "output_tokens": 11}))
    s = llm.stream(purpose="tests.stream", prompt="Tell me about foxes", provider=provider, model=model, user=owner,
                   cache=False)
    chunks = _read_all(s)
    assert len(chunks) > 3 and "".join(chunks) == "The quick brown fox jumps over the lazy dog."
    result = s.result
    assert result.text == "".join(chunks) and result.usage.input_tokens == 21 and result.usage.output_tokens == 11
    row = LLMQuery.objects.get()
    assert row.status == "ok" and row.pk == result.query_id
    assert (row.input_tokens, row.output_tokens, row.usage_estimated) == (21, 11, False)
    assert row.cost_usd is not None and row.cost_usd == result.cost_usd and row.cost_usd > 0
    assert '"response": "The quick brown fox jumps over the lazy dog."' in read(row.file_path).decode()
    assert fake.requests_for(provider)[0].stream is True


@pytest.mark.django_db
@pytest.mark.parametrize("provider,model", PROVIDERS)
def test_a_stream_cut_off_by_the_provider_is_logged_interrupted_with_its_partial_text(providers, fake, owner, provider, model):
    fake.script(Reply(text="one two three four five six seven eight", chunk_words=1, stream_cut_after=3))
    s = llm.stream(purpose="tests.stream", prompt="Count", provider=provider, model=model, user=owner, cache=False)
    got = []
    with pytest.raises(LLMStreamInterrupted) as info:
        for chunk in s:
            got.append(chunk)
    assert "".join(got) == "one two three " and info.value.partial_text == "one two three "
    row = LLMQuery.objects.get()
    assert row.status == "interrupted" and info.value.query_id == row.pk
    from llm.calls.tokens import count_text

    assert row.usage_estimated and row.output_tokens == count_text("one two three ") and row.input_tokens > 0
    assert row.cost_usd > 0
    assert "estimate" in row.error
    assert '"response": "one two three "' in read(row.file_path).decode()


@pytest.mark.django_db
def test_an_anthropic_overloaded_error_event_mid_stream_is_interrupted(providers, fake, owner):
    fake.script(Reply(text="alpha beta gamma delta", chunk_words=1, stream_cut_after=2, stream_error="overloaded_error"))
    s = llm.stream(purpose="tests.stream", prompt="Go", provider="anthropic", model="claude-haiku-4-5", user=owner)
    with pytest.raises(LLMStreamInterrupted, match="overloaded"):
        list(s)
    row = LLMQuery.objects.get()
    assert row.status == "interrupted" and "overloaded" in row.error
    # message_start carried the input tokens: they are the provider's, the output is our count
    assert row.input_tokens > 0


@pytest.mark.django_db
@pytest.mark.parametrize("provider,model", PROVIDERS)
def test_a_stream_without_usage_is_priced_from_an_estimate_marked_as_one(providers, fake, owner, provider, model):
    fake.script(Reply(text="A short answer.", stream_usage=False))
    s = llm.stream(purpose="tests.stream", prompt="Hi", provider=provider, model=model, user=owner, cache=False)
    assert "".join(s) == "A short answer."
    row = LLMQuery.objects.get()
    assert row.status == "ok" and row.usage_estimated is True and row.output_tokens > 0 and row.cost_usd > 0
    assert s.result.cost_usd == row.cost_usd


@pytest.mark.django_db
def test_cancel_closes_the_provider_request_and_logs_cancelled(providers, fake, owner):
    fake.script(Reply(text=" ".join(f"w{i}" for i in range(200)), chunk_words=1, chunk_delay=0.01))
    s = llm.stream(purpose="tests.stream", prompt="Long", provider="openai", model="gpt-4o-mini", user=owner)
    for n, _ in enumerate(s):
        if n == 4:
            s.cancel()
            break
    row = LLMQuery.objects.get()
    assert row.status == "cancelled" and row.error.startswith("Stopped by the user.")
    assert s.result is None
    from conftest import wait_until

    wait_until(lambda: fake.requests_for("openai")[0].client_closed, what="the fake to see the client go", timeout=5)
    assert fake.requests_for("openai")[0].chunks_sent < 200


@pytest.mark.django_db
def test_dropping_the_iterator_logs_client_closed(providers, fake, owner):
    fake.script(Reply(text="a b c d e f g h", chunk_words=1))
    s = llm.stream(purpose="tests.stream", prompt="x", provider="gemini", model="gemini-2.0-flash", user=owner)
    next(s)
    s.close()
    assert LLMQuery.objects.get().status == "client_closed"


@pytest.mark.django_db
@pytest.mark.parametrize("provider,model", PROVIDERS)
def test_structured_output_is_validated_once_complete_and_re_asked(providers, fake, owner, provider, model):
    from pydantic import BaseModel

    class Answer(BaseModel):
        name: str
        count: int

    fake.script(Reply(text='{"name": "x"}'), Reply(json={"name": "fox", "count": 3}))
    s = llm.stream(purpose="tests.stream", prompt="Give JSON", provider=provider, model=model, schema=Answer,
                   user=owner, cache=False)
    attempts = set()
    for _ in s:
        attempts.add(s.attempt)
    assert attempts == {0, 1}
    assert s.result.parsed.count == 3
    assert list(LLMQuery.objects.order_by("pk").values_list("status", flat=True)) == ["invalid_output", "ok"]


@pytest.mark.django_db
def test_structured_output_that_never_fits_raises_after_the_retries(providers, fake, owner):
    from pydantic import BaseModel

    class Answer(BaseModel):
        count: int

    fake.set_default(Reply(text="not json"))
    with pytest.raises(LLMInvalidOutputError):
        list(llm.stream(purpose="tests.stream", prompt="x", provider="openai", model="gpt-4o-mini", schema=Answer,
                        user=owner, validation_retries=1, cache=False))
    assert LLMQuery.objects.filter(status="invalid_output").count() == 2


@pytest.mark.django_db
def test_a_429_before_the_first_chunk_is_retried_like_a_plain_call(providers, fake, owner):
    fake.script(Reply(status=429), Reply(text="fine"))
    s = llm.stream(purpose="tests.stream", prompt="x", provider="anthropic", model="claude-haiku-4-5", user=owner)
    assert "".join(s) == "fine"
    assert list(LLMQuery.objects.order_by("pk").values_list("status", flat=True)) == ["rate_limited", "ok"]


@pytest.mark.django_db
def test_a_cached_answer_comes_out_as_one_chunk(providers, fake, owner):
    fake.script(Reply(text="cached words here"))
    first = llm.stream(purpose="tests.stream", prompt="same", provider="openai", model="gpt-4o-mini", user=owner)
    assert "".join(first) == "cached words here"
    again = llm.stream(purpose="tests.stream", prompt="same", provider="openai", model="gpt-4o-mini", user=owner)
    assert list(again) == ["cached words here"] and again.result.status == "cache_hit"
    assert again.result.cost_usd == Decimal("0")
