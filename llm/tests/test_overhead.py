"""What keeps complete()'s own cost small without giving up a guarantee: cached definitions that
follow every change, two database round trips per call, the started row committed before the
provider is called, and interaction files written whole. (Timings: bench/llm_overhead.py.)"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from llm import definitions
from llm.records import interactions
from llm.errors import LLMBudgetExceeded
from llm.models import Budget, LLMCacheEntry, LLMModel, LLMQuery, UsageDaily
from llm.calls import complete
from llm.testing.fake_provider import Reply


def _call(**kwargs):
    return complete(purpose="tests.overhead", provider="openai", model="gpt-4o-mini", **{"prompt": "hi", **kwargs})


@pytest.mark.django_db
def test_a_plain_call_is_two_database_round_trips_and_still_logs_everything(providers, fake):
    _call(prompt="warm up")  # loads the provider and model definitions once
    with CaptureQueriesContext(connection) as queries:
        result = _call(prompt="counted", cache=False)  # the row before the call, then everything else
    assert len(queries.captured_queries) == 2, [q["sql"][:80] for q in queries.captured_queries]
    row = LLMQuery.objects.get(pk=result.query_id)
    assert row.status == "ok" and row.input_tokens > 0 and row.cost_usd is not None and row.finished_at
    assert interactions.verify(row.file_path, row.file_sha256)
    assert UsageDaily.objects.filter(purpose="tests.overhead", status="ok").get().calls == 2
    assert LLMCacheEntry.objects.filter(key=row.cache_key, source_query=row).exists()
    # A cache hit: the lookup (counting the hit) travels with the call's first row, then that row
    # becomes the cache_hit row, with its rollup.
    with CaptureQueriesContext(connection) as queries:
        hit = _call(prompt="counted")
    assert hit.status == "cache_hit" and hit.text == result.text and len(queries.captured_queries) == 2
    assert LLMCacheEntry.objects.get(key=row.cache_key).hits == 1
    hit_row = LLMQuery.objects.get(pk=hit.query_id)
    assert hit_row.attempt == 1 and hit_row.finished_at and hit_row.file_path == row.file_path
    # A miss with the cache on costs no more than a call without it: lookup and row together.
    with CaptureQueriesContext(connection) as queries:
        miss = _call(prompt="not asked before")
    assert len(queries.captured_queries) == 2, [q["sql"][:80] for q in queries.captured_queries]
    missed = LLMQuery.objects.get(pk=miss.query_id)
    assert missed.status == "ok" and missed.attempt == 1 and miss.query_ids == [missed.pk]
    assert UsageDaily.objects.filter(purpose="tests.overhead", status="cache_hit").get().calls == 1
    assert not LLMQuery.objects.filter(purpose="tests.overhead", status="started").exists()


@pytest.fixture
def overlapped(monkeypatch):
    """Counts the calls whose row insert was overlapped with the building of the request."""
    from llm.records import dblog

    sent = []
    real = dblog.insert_nowait
    monkeypatch.setattr(dblog, "insert_nowait", lambda *a, **k: sent.append(real(*a, **k)) or sent[-1])
    return sent


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider,model", [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5"),
                                            ("gemini", "gemini-2.5-flash")])
def test_the_started_row_is_committed_before_the_provider_is_called(providers, fake, overlapped, provider, model):
    seen = []

    def answer(request):
        # Runs in the fake server's thread, on its own database connection, during the call.
        try:
            seen.extend(LLMQuery.objects.values_list("purpose", "status"))
        finally:
            connection.close()
        return Reply(text="ok")

    fake.set_default(answer)
    for _ in range(3):  # the second and third with the SDK client (and its send hook) already built
        seen.clear()
        result = complete(purpose="tests.overhead", provider=provider, model=model, prompt="hi", cache=False)
        assert seen == [("tests.overhead", "started")]
        assert LLMQuery.objects.get(pk=result.query_id).status == "ok" and result.query_ids == [result.query_id]
        LLMQuery.objects.all().delete()
    # The insert was sent before the request was built and settled right before it left.
    assert overlapped == [True, True, True]


@pytest.mark.django_db(transaction=True)
def test_a_row_the_database_refuses_means_nothing_is_sent(providers, fake, overlapped):
    from django.db import IntegrityError

    _call(prompt="warm up", cache=False)
    sent_before = len(fake.requests)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE llm_llmquery ADD CONSTRAINT tests_refuse CHECK (purpose <> 'tests.refused')")
    try:
        with pytest.raises(IntegrityError, match="tests_refuse"):
            complete(purpose="tests.refused", provider="openai", model="gpt-4o-mini", prompt="hi", cache=False)
        assert overlapped[-1] is True and len(fake.requests) == sent_before  # the provider never saw it
        assert not LLMQuery.objects.filter(purpose="tests.refused").exists()
        # The connection is usable at once, and the next call is logged as usual.
        after = _call(prompt="after", cache=False)
        assert LLMQuery.objects.get(pk=after.query_id).status == "ok"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE llm_llmquery DROP CONSTRAINT IF EXISTS tests_refuse")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_answer_path_is_one_statement(providers, fake, overlapped):
    _call(prompt="warm up", cache=False)
    with CaptureQueriesContext(connection) as queries:
        result = _call(prompt="counted", cache=False)  # the row's insert; its final update is journaled
    assert [q["sql"][:40] for q in queries.captured_queries] == [
        "SET LOCAL synchronous_commit TO OFF; INS"]
    assert overlapped[-1] is True
    row = LLMQuery.objects.get(pk=result.query_id)  # waits for this process's queued update
    assert row.status == "ok" and row.cost_usd is not None and interactions.verify(row.file_path, row.file_sha256)


@pytest.mark.django_db
def test_a_call_reads_no_version_from_redis_while_subscribed(providers, fake, monkeypatch):
    _call(prompt="subscribes")
    gets = []
    real = definitions._get_version
    monkeypatch.setattr(definitions, "_get_version", lambda: gets.append(1) or real())
    for n in range(5):
        _call(prompt=f"call {n}")
    assert gets == []


@pytest.mark.django_db
def test_a_version_published_while_the_subscription_was_down_is_not_missed(providers, fake):
    import redis

    from django.conf import settings

    fake.set_default(Reply(text="ok", usage={"input_tokens": 1_000_000, "output_tokens": 0}))
    before = _call(prompt="one").cost_usd
    definitions._subscription.pubsub.connection.disconnect()  # Redis restarted, or the connection dropped
    LLMModel.objects.filter(provider__name="openai", name="gpt-4o-mini").update(input_price_per_1m=before * 3)
    # Another process's change, published while this one was not listening: only the key tells.
    redis.Redis.from_url(settings.REDIS_URL).set(definitions._key(), b"published-while-away")
    assert _call(prompt="two").cost_usd == before * 3


@pytest.mark.django_db
def test_a_budget_created_after_a_call_holds_the_next_call(providers, fake):
    _call(prompt="before the budget")  # this process now knows there are no budgets
    Budget.objects.create(period="day", limit_usd=Decimal("0.000001"))
    with pytest.raises(LLMBudgetExceeded):
        _call(prompt="after the budget")
    assert LLMQuery.objects.order_by("-id").first().status == "budget_exceeded"


@pytest.mark.django_db
def test_a_price_changed_in_another_process_applies_once_its_version_is_published(providers, fake):
    fake.set_default(Reply(text="ok", usage={"input_tokens": 1_000_000, "output_tokens": 0}))
    before = _call(prompt="one").cost_usd
    # A write this process's signals never saw, like an admin edit in the web process ...
    LLMModel.objects.filter(provider__name="openai", name="gpt-4o-mini").update(input_price_per_1m=before * 2)
    assert _call(prompt="two").cost_usd == before  # ... so the cached row is still used,
    definitions._write_version()  # until that process's post_save publishes a new version.
    assert _call(prompt="three").cost_usd == before * 2


@pytest.mark.django_db
def test_a_provider_saved_in_this_process_is_seen_at_once(providers, fake):
    _call()
    openai = providers["openai"]
    openai.enabled = False
    openai.save()
    with pytest.raises(Exception, match="disabled"):
        _call()


def test_an_interaction_file_is_replaced_whole_and_leaves_no_temporary_file(settings, tmp_path):
    path = f"{interactions.ROOT}/adhoc/2026-01-01/x_a1_deadbeef.json"
    first_path, first_sha = interactions.write(path, {"answer": "first"})
    second_path, second_sha = interactions.write(path, {"answer": "second " * 1000})
    assert first_path == second_path == path and first_sha != second_sha
    assert interactions.verify(path, second_sha) and b"second" in interactions.read(path)
    folder = tmp_path / "storage" / interactions.ROOT / "adhoc" / "2026-01-01"
    assert sorted(p.name for p in folder.iterdir()) == ["x_a1_deadbeef.json"]
    with pytest.raises(Exception):
        interactions.write("../outside.json", {"answer": "no"})


def test_interaction_files_are_the_same_json_as_the_standard_library_writes():
    import json
    from datetime import datetime, timezone

    doc = {"when": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), "cost": Decimal("0.00001050"),
           "text": "héllo \u2028 \x00 \"q\"", "nested": {"empty": {}, "list": [1, 2.5, None, True]}, 7: "int key",
           "huge": 2**70}
    expected = json.dumps(doc, ensure_ascii=False, indent=2, default=interactions._default).encode()
    assert interactions.encode(doc) == expected
    del doc["huge"]  # the fast path (orjson) must agree too, not just the fallback
    expected = json.dumps(doc, ensure_ascii=False, indent=2, default=interactions._default).encode()
    assert interactions.encode(doc) == expected


def test_a_models_json_schema_is_built_once_and_its_strict_form_once(monkeypatch):
    from pydantic import BaseModel

    from llm.calls import structured
    from llm.providers import schema as provider_schema

    class Answer(BaseModel):
        name: str
        score: float | None = None

    built = []
    real = Answer.model_json_schema.__func__

    monkeypatch.setattr(Answer, "model_json_schema", classmethod(lambda cls, *a, **k: built.append(1) or real(cls, *a, **k)))
    first, name = structured.schema_of(Answer)
    again, _ = structured.schema_of(Answer)
    assert name == "Answer" and again is first and len(built) == 1
    strict = provider_schema.strict_json_schema(first)
    assert provider_schema.strict_json_schema(first) is strict
    assert strict["additionalProperties"] is False and strict["required"] == ["name", "score"]
    assert "additionalProperties" not in first  # the shared source is never changed
    # An equal but distinct dict (a caller's own JSON schema) is converted for itself.
    copy = {**first}
    assert provider_schema.strict_json_schema(copy) == strict and provider_schema.strict_json_schema(copy) is not strict


@pytest.mark.django_db
@pytest.mark.parametrize("body, expected", [
    # Read straight from the body: text, usage and finish reason, the raw JSON kept for the file.
    ({"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
      "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "cut"}}],
      "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
                "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}},
     ("truncated", "cut", 7, 3)),
    # Content that is not text is refused with a reason (the SDK would have handed the list on).
    ({"id": "c2", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
      "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ["odd"]}}]},
     "invalid_output"),
    # JSON that is not a chat completion at all.
    ({"id": "c3", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini"}, "invalid_output"),
    ({"id": "c4", "choices": ["not an object"]}, "invalid_output"),
])
def test_openai_answers_are_read_from_the_body_and_odd_ones_from_the_sdk(providers, fake, body, expected):
    import json as _json

    from llm.errors import LLMError

    fake.script(Reply(raw_body=_json.dumps(body), status=200))
    if expected == "invalid_output":
        with pytest.raises(LLMError, match="not text|not a chat completion"):
            _call(prompt=f"odd {body['id']}", cache=False)
        row = LLMQuery.objects.order_by("-pk").first()
        assert row.status == "invalid_output" and row.finished_at
        return
    from llm.errors import LLMTruncatedError

    with pytest.raises(LLMTruncatedError) as caught:
        _call(prompt=f"fast {body['id']}", cache=False)
    row = LLMQuery.objects.get(pk=caught.value.query_id)
    status, text, tokens_in, tokens_out = expected
    assert (caught.value.partial_text, row.input_tokens, row.output_tokens) == (text, tokens_in, tokens_out)
    assert row.cached_input_tokens == 2 and row.reasoning_tokens == 1 and row.status == status
    logged = _json.loads(interactions.read(row.file_path))
    assert '"finish_reason": "length"' in _json.dumps(logged) and '"id": "c1"' in _json.dumps(logged)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider,model", [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5"),
                                            ("gemini", "gemini-2.5-flash")])
def test_a_cache_hit_found_while_the_request_is_built_is_never_sent(providers, fake, overlapped, provider, model):
    """The lookup travels with the row's insert and is settled right before the request would
    leave: a hit drops the request there, and the call is answered from the cache as before."""
    first = complete(purpose="tests.overhead", provider=provider, model=model, prompt="cached question")
    sent = len(fake.requests)
    with CaptureQueriesContext(connection) as queries:
        hit = complete(purpose="tests.overhead", provider=provider, model=model, prompt="cached question")
    assert len(fake.requests) == sent and overlapped[-1] is True  # built by the SDK, stopped by its send hook
    assert hit.status == "cache_hit" and hit.text == first.text and hit.query_ids == [hit.query_id]
    assert len(queries.captured_queries) == 1  # the lookup and the row, one message; the rest is journaled
    row = LLMQuery.objects.get(pk=hit.query_id)
    assert (row.status, row.attempt, row.cost_usd) == ("cache_hit", 1, 0) and row.file_path == first.file_path
    assert LLMCacheEntry.objects.get(key=row.cache_key).hits == 1
    assert LLMQuery.objects.count() == 2
    # A miss with the cache on: the lookup said nothing, so the same row is the attempt that is sent.
    miss = complete(purpose="tests.overhead", provider=provider, model=model, prompt="a new question")
    assert len(fake.requests) == sent + 1 and miss.status == "ok" and miss.query_ids == [miss.query_id]
    assert LLMQuery.objects.get(pk=miss.query_id).attempt == 1


@pytest.mark.django_db(transaction=True)
def test_a_cached_answer_that_no_longer_fits_the_schema_is_asked_again(providers, fake):
    from pydantic import BaseModel

    class Answer(BaseModel):
        name: str

    fake.set_default(Reply(text='{"name": "first"}'))
    complete(purpose="tests.overhead", provider="openai", model="gpt-4o-mini", prompt="q", schema=Answer)
    LLMCacheEntry.objects.update(response_text='{"nom": "changed"}')  # e.g. written by an older schema
    sent = len(fake.requests)
    again = complete(purpose="tests.overhead", provider="openai", model="gpt-4o-mini", prompt="q", schema=Answer)
    assert len(fake.requests) == sent + 1 and again.status == "ok" and again.parsed.name == "first"
    assert LLMQuery.objects.get(pk=again.query_id).attempt == 1


@pytest.mark.django_db(transaction=True)
def test_a_cache_hit_reserves_no_budget_and_books_nothing(providers, fake):
    from llm.models import BudgetUsage

    first = _call(prompt="budgeted")
    Budget.objects.create(period="day", limit_usd=Decimal("5"))
    hit = _call(prompt="budgeted")  # the budget's check settles the lookup first: a hit stops there
    assert hit.status == "cache_hit" and hit.text == first.text
    assert not BudgetUsage.objects.exists()  # nothing was reserved (a reservation makes the period's row)
    _call(prompt="budgeted, not cached")
    assert BudgetUsage.objects.get().spent_usd > 0  # (which a call that is sent does)
