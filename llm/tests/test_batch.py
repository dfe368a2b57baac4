"""Provider batches end to end: the official SDKs against the fake's batch APIs."""

import json
from decimal import Decimal

import pytest
from pydantic import BaseModel

from llm import batch as llm_batch
from llm.records import interactions
from llm.batch.models import LLMBatch, LLMBatchItem
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


class Label(BaseModel):
    label: str


class Recorder:
    def __init__(self):
        self.answers, self.errors, self.finished = {}, {}, []

    def on_answer(self, owner, key, completion):
        self.answers[key] = completion

    def on_error(self, owner, key, error):
        self.errors[key] = error

    def on_finished(self, owner):
        self.finished.append(owner)


@pytest.fixture
def recorder():
    rec = Recorder()
    llm_batch.register_handler("tests.recorder", rec)
    return rec


def _requests(n, schema=Label):
    return [llm_batch.Request(key=f"k{i}", purpose="tests.batch", prompt=f"Label item {i}", schema=schema,
                              run="RUN_batch_test", interaction_type="label") for i in range(n)]


def _poll_until_done(owner, limit=10):
    for _ in range(limit):
        llm_batch.poll_due()
        if not LLMBatch.objects.for_owner(owner).active().exists():
            return
    raise AssertionError("the batch never finished")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_it_delivers_batch_answers_through_complete(providers, fake, recorder, provider):
    fake.set_default(Reply(json={"label": "ok"}))
    owner = f"tests.Run:{provider}"
    batches = llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(3), provider=provider,
                               model=MODELS[provider])
    assert len(batches) == 1 and batches[0].provider_batch_id  # stored before submit returned
    assert LLMBatch.objects.get(pk=batches[0].pk).provider_batch_id == batches[0].provider_batch_id
    _poll_until_done(owner)
    assert sorted(recorder.answers) == ["k0", "k1", "k2"] and not recorder.errors
    assert recorder.finished == [owner]
    completion = recorder.answers["k1"]
    assert isinstance(completion.parsed, Label) and completion.parsed.label == "ok"
    row = LLMQuery.objects.get(pk=completion.query_id)
    assert row.delivery == "batch" and row.provider_batch_id == batches[0].provider_batch_id
    assert row.batch_custom_id == row.cache_key and row.status == LLMQuery.Status.OK
    assert row.run_id == "RUN_batch_test" and row.interaction_type == "label"
    doc = json.loads(interactions.read(row.file_path))
    assert doc["metadata"]["delivery"] == "batch" and doc["metadata"]["batch_custom_id"] == row.batch_custom_id
    # Only the batch endpoints were called: no interactive generation request.
    assert all(r.path.startswith("/batch/") for r in fake.requests_for(provider))
    assert LLMBatch.objects.get(pk=batches[0].pk).state == LLMBatch.State.DELIVERED


def test_batch_answers_cost_half(providers, fake, recorder):
    from llm.models import LLMModel
    from llm.records.pricing import charge_for
    from llm.providers import Usage

    fake.set_default(Reply(json={"label": "ok"}, usage={"input_tokens": 1000, "output_tokens": 100}))
    llm_batch.submit(owner="tests.Run:cost", handler="tests.recorder", requests=_requests(1), provider="openai",
                     model="gpt-4o-mini")
    _poll_until_done("tests.Run:cost")
    row = LLMQuery.objects.get(pk=recorder.answers["k0"].query_id)
    model = LLMModel.objects.get(provider__name="openai", name="gpt-4o-mini")
    assert model.batch_price_multiplier == Decimal("0.5")
    full = charge_for(model, Usage(input_tokens=1000, output_tokens=100)).cost
    assert row.cost_usd == full / 2


def test_resubmitting_the_same_requests_sends_nothing_twice(providers, fake, recorder):
    fake.set_batch_faults(polls_to_complete=5)
    owner = "tests.Run:idem"
    first = llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(2), provider="anthropic",
                             model=MODELS["anthropic"])
    again = llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(3), provider="anthropic",
                             model=MODELS["anthropic"])
    assert len(first) == 1 and len(again) == 1
    assert list(again[0].items.values_list("key", flat=True)) == ["k2"]
    assert LLMBatchItem.objects.filter(batch__owner=owner).count() == 3


def test_invalid_batch_answer_becomes_an_interactive_retry(providers, fake, recorder):
    fake.script(Reply(text="not json at all"), route="openai")  # the batch's answer
    fake.script(Reply(json={"label": "fixed"}), route="openai")  # the interactive retry
    llm_batch.submit(owner="tests.Run:retry", handler="tests.recorder", requests=_requests(1), provider="openai",
                     model="gpt-4o-mini")
    _poll_until_done("tests.Run:retry")
    completion = recorder.answers["k0"]
    assert completion.parsed.label == "fixed"
    rows = list(LLMQuery.objects.filter(pk__in=completion.query_ids).order_by("id"))
    assert [(r.delivery, r.status) for r in rows] == [("batch", "invalid_output"), ("interactive", "ok")]
    assert rows[1].batch_custom_id == rows[0].batch_custom_id  # still traceable to the batch request
    interactive = [r for r in fake.requests_for("openai") if not r.path.startswith("/batch/")]
    assert len(interactive) == 1 and "not json at all" in str(interactive[0].body["messages"])


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_an_expired_batch_resubmits_only_what_is_missing(providers, fake, recorder, provider):
    fake.set_default(Reply(json={"label": "ok"}))
    fake.set_batch_faults(expire=True)
    owner = f"tests.Run:expire-{provider}"
    llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(4), provider=provider, model=MODELS[provider])
    fake.set_batch_faults()  # the resubmission runs normally
    _poll_until_done(owner)
    assert sorted(recorder.answers) == ["k0", "k1", "k2", "k3"] and not recorder.errors
    first, second = LLMBatch.objects.for_owner(owner).order_by("id")
    assert second.parent_id == first.pk and second.round == 2
    # Gemini's expired job has no output at all; OpenAI's and Anthropic's keep what ran.
    expected_again = 4 if provider == "gemini" else 2
    assert second.items.count() == expected_again
    resent = {i.custom_id for i in second.items.all()}
    assert resent == {i.custom_id for i in first.items.filter(status=LLMBatchItem.Status.RESUBMITTED)}


def test_an_expired_batch_can_finish_interactively(providers, fake, recorder):
    fake.set_default(Reply(json={"label": "ok"}))
    fake.set_batch_faults(expire=True)
    owner = "tests.Run:expire-interactive"
    llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(4), provider="openai",
                     model="gpt-4o-mini", on_missing="interactive")
    _poll_until_done(owner)
    assert sorted(recorder.answers) == ["k0", "k1", "k2", "k3"]
    deliveries = sorted(LLMQuery.objects.get(pk=c.query_id).delivery for c in recorder.answers.values())
    assert deliveries == ["batch", "batch", "interactive", "interactive"]
    assert LLMBatch.objects.for_owner(owner).count() == 1


def test_partly_failed_requests_are_asked_interactively(providers, fake, recorder):
    fake.set_default(Reply(json={"label": "ok"}))
    fake.set_batch_faults(fail_every=2)
    owner = "tests.Run:partial"
    llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(4), provider="anthropic",
                     model=MODELS["anthropic"])
    _poll_until_done(owner)
    assert sorted(recorder.answers) == ["k0", "k1", "k2", "k3"]
    batch = LLMBatch.objects.get(owner=owner)
    assert batch.counts["errored"] == 2 and batch.counts["succeeded"] == 2


def test_a_slow_batch_stays_in_progress_until_it_completes(providers, fake, recorder):
    fake.set_default(Reply(json={"label": "ok"}))
    fake.set_batch_faults(polls_to_complete=2)
    owner = "tests.Run:slow"
    llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(2), provider="gemini",
                     model=MODELS["gemini"])
    llm_batch.poll_due()
    llm_batch.poll_due()
    batch = LLMBatch.objects.get(owner=owner)
    assert batch.state == LLMBatch.State.IN_PROGRESS and batch.polls == 2 and not recorder.answers
    summary = llm_batch.summary(owner)
    assert summary["active"] and summary["cancellable"]
    llm_batch.poll_due()
    assert sorted(recorder.answers) == ["k0", "k1"]


def test_cancel_stops_the_batch_and_reports_the_rest(providers, fake, recorder):
    fake.set_default(Reply(json={"label": "ok"}))
    fake.set_batch_faults(polls_to_complete=3)
    owner = "tests.Run:cancel"
    llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(4), provider="openai", model="gpt-4o-mini")
    assert llm_batch.cancel(owner) == 1
    _poll_until_done(owner)
    batch = LLMBatch.objects.get(owner=owner)
    assert batch.state == LLMBatch.State.CANCELLED and batch.provider_status == "cancelled"
    assert set(recorder.answers) | set(recorder.errors) == {"k0", "k1", "k2", "k3"}
    assert recorder.errors and all(isinstance(e, llm_batch.BatchCancelled) for e in recorder.errors.values())
    assert not [r for r in fake.requests_for("openai") if not r.path.startswith("/batch/")]  # nothing asked interactively


def test_a_crash_before_the_id_was_stored_adopts_the_providers_batch(providers, fake, recorder):
    from llm.batch import adapters, service

    fake.set_default(Reply(json={"label": "ok"}))
    owner = "tests.Run:adopt"
    # Simulate a crash right after the provider's create returned: the batch exists there, not in our row.
    original = service._send

    def crash_after_create(batch, adapter, adopt=False):
        entries = [adapter.entry(i.custom_id, service._provider_request(batch, i.request))[0] for i in batch.items.all()]
        adapter.create(service._marker(batch), batch.model_name, entries)
        raise KeyboardInterrupt

    service._send = crash_after_create
    try:
        with pytest.raises(KeyboardInterrupt):
            llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(2), provider="openai",
                             model="gpt-4o-mini")
    finally:
        service._send = original
    batch = LLMBatch.objects.get(owner=owner)
    assert batch.state == LLMBatch.State.PREPARING and not batch.provider_batch_id
    LLMBatch.objects.filter(pk=batch.pk).update(claimed_until=None)  # the lease of the dead submitter ran out
    _poll_until_done(owner)
    creates = [r for r in fake.batch_store.batches.values() if r.provider == "openai"]
    assert len(creates) == 1  # adopted, not created twice
    assert sorted(recorder.answers) == ["k0", "k1"]
    assert adapters.OpenAIAdapter.max_requests == 50_000


def test_a_batch_is_split_at_the_providers_limits(providers, fake, recorder, monkeypatch):
    from llm.batch import adapters

    monkeypatch.setattr(adapters.AnthropicAdapter, "max_requests", 2)
    fake.set_batch_faults(polls_to_complete=5)
    batches = llm_batch.submit(owner="tests.Run:split", handler="tests.recorder", requests=_requests(5),
                               provider="anthropic", model=MODELS["anthropic"])
    assert [b.total for b in batches] == [2, 2, 1]
    assert len({b.provider_batch_id for b in batches}) == 3


def test_manual_provider_runs_interactive(providers):
    assert llm_batch.effective_delivery("batch", provider="manual") == "interactive"
    assert llm_batch.effective_delivery("batch", provider="openai") == "batch"
    with pytest.raises(ValueError, match="delivery must be one of"):
        llm_batch.effective_delivery("later")


def test_an_unregistered_handler_is_refused(providers):
    from llm.errors import LLMError

    with pytest.raises(LLMError, match="No batch handler 'nope'"):
        llm_batch.submit(owner="x", handler="nope", requests=_requests(1), provider="openai", model="gpt-4o-mini")


def test_the_dashboard_groups_spend_by_delivery(providers, fake, recorder, owner, client):
    from llm.records import usage
    from llm.models import UsageDaily

    fake.set_default(Reply(json={"label": "ok"}))
    llm_batch.submit(owner="tests.Run:dash", handler="tests.recorder", requests=_requests(2), provider="openai",
                     model="gpt-4o-mini", user=owner)
    _poll_until_done("tests.Run:dash")
    from llm.calls.service import complete

    complete(purpose="tests.batch", prompt="one interactive call", provider="openai", model="gpt-4o-mini", user=owner)
    assert set(UsageDaily.objects.values_list("delivery", flat=True)) == {"batch", "interactive"}
    rows = {r["delivery"]: r for r in usage.summary(usage.rollups(owner, usage.Filters.default()))["breakdowns"]["delivery"]}
    assert rows["batch"]["calls"] == 2 and rows["interactive"]["calls"] == 1
    client.force_login(owner)
    page = client.get("/llm/dashboard/?delivery=batch")
    assert page.status_code == 200 and "Spend per delivery" in page.content.decode()


def _usage():
    from llm.models import BudgetUsage

    return BudgetUsage.objects.get()


def test_a_batch_reserves_its_most_possible_cost_and_books_what_it_cost(providers, fake, recorder):
    from llm.models import Budget

    Budget.objects.create(period="month", limit_usd=Decimal("5"))
    fake.set_default(Reply(json={"label": "ok"}, usage={"input_tokens": 1000, "output_tokens": 100}))
    fake.set_batch_faults(polls_to_complete=2)
    owner = "tests.Run:budget"
    batch, = llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(3), provider="openai",
                              model="gpt-4o-mini")
    items = list(batch.items.all())
    assert all(i.reserved_usd > 0 for i in items)
    held = sum(i.reserved_usd for i in items)
    assert _usage().reserved_usd == held and _usage().spent_usd == 0  # held while the provider works
    _poll_until_done(owner)
    rows = [LLMQuery.objects.get(pk=c.query_id) for c in recorder.answers.values()]
    usage = _usage()
    assert usage.reserved_usd == 0
    assert usage.spent_usd == sum(r.cost_usd for r in rows) > 0  # the batch price, not the reservation
    assert not LLMBatchItem.objects.filter(batch__owner=owner).exclude(reserved_usd=0).exists()


def test_a_batch_over_the_budget_is_refused_before_anything_is_sent(providers, fake, recorder):
    from llm.errors import LLMBudgetExceeded
    from llm.models import Budget

    Budget.objects.create(period="day", limit_usd=Decimal("0.0001"))
    with pytest.raises(LLMBudgetExceeded, match="this batch of 3 requests to openai/gpt-4o-mini"):
        llm_batch.submit(owner="tests.Run:over", handler="tests.recorder", requests=_requests(3), provider="openai",
                         model="gpt-4o-mini")
    assert not LLMBatch.objects.filter(owner="tests.Run:over").exists()
    assert not fake.requests_for("openai")
    assert _usage().reserved_usd == 0


def test_failed_and_cancelled_requests_release_their_share(providers, fake, recorder):
    from llm.models import Budget

    Budget.objects.create(period="month", limit_usd=Decimal("5"))
    fake.set_default(Reply(json={"label": "ok"}, usage={"input_tokens": 1000, "output_tokens": 100}))
    fake.set_batch_faults(fail_every=2)  # half the requests fail in the batch and are asked interactively
    owner = "tests.Run:budget-partial"
    llm_batch.submit(owner=owner, handler="tests.recorder", requests=_requests(4), provider="anthropic",
                     model=MODELS["anthropic"])
    _poll_until_done(owner)
    assert sorted(recorder.answers) == ["k0", "k1", "k2", "k3"]
    rows = LLMQuery.objects.filter(status="ok")
    assert sorted(rows.values_list("delivery", flat=True)) == ["batch", "batch", "interactive", "interactive"]
    usage = _usage()
    assert usage.reserved_usd == 0 and usage.spent_usd == sum(r.cost_usd for r in rows)

    fake.set_batch_faults(polls_to_complete=50)
    llm_batch.submit(owner="tests.Run:budget-cancel", handler="tests.recorder", requests=_requests(2),
                     provider="openai", model="gpt-4o-mini")
    assert _usage().reserved_usd > 0
    llm_batch.cancel("tests.Run:budget-cancel")
    _poll_until_done("tests.Run:budget-cancel")
    assert _usage().reserved_usd == 0
