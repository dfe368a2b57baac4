"""What keeps complete()'s own cost small without giving up a guarantee: cached definitions that
follow every change, two database round trips per call, the started row committed before the
provider is called, and interaction files written whole. (Timings: bench/llm_overhead.py.)"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from llm import definitions, interactions
from llm.errors import LLMBudgetExceeded
from llm.models import Budget, LLMCacheEntry, LLMModel, LLMQuery, UsageDaily
from llm.service import complete
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
    # A cache hit: look up (counting the hit), then the cache_hit row and its rollup.
    with CaptureQueriesContext(connection) as queries:
        hit = _call(prompt="counted")
    assert hit.status == "cache_hit" and hit.text == result.text and len(queries.captured_queries) == 3
    assert LLMCacheEntry.objects.get(key=row.cache_key).hits == 1


@pytest.mark.django_db(transaction=True)
def test_the_started_row_is_committed_before_the_provider_is_called(providers, fake):
    seen = []

    def answer(request):
        # Runs in the fake server's thread, on its own database connection, during the call.
        try:
            seen.extend(LLMQuery.objects.values_list("purpose", "status"))
        finally:
            connection.close()
        return Reply(text="ok")

    fake.set_default(answer)
    result = _call()
    assert seen == [("tests.overhead", "started")]
    assert LLMQuery.objects.get(pk=result.query_id).status == "ok"


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
