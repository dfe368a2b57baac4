"""Segmentation runs with delivery=batch: each stage's calls in provider batches, the same pipeline."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from llm.batch.models import LLMBatch
from llm.providers import Usage
from llm.models import LLMModel, LLMQuery
from llm.records.pricing import charge_for
from llm.tasks import poll_batches
from llm.testing.fake_provider import Reply

from segmentation import pipeline
from segmentation.models import ProductSegment, RefinedProductSegment, SegmentationBatch, SegmentationRun
from segmentation.tasks import resume_stale_runs

from .fakes import answer, request_parts, responder

pytestmark = pytest.mark.django_db


def start(owner, ids, **kw):
    return pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                              model="gpt-4o-mini", delivery="batch", **kw)


def drive(run, capture, *, polls=60) -> SegmentationRun:
    """What the workers do: the first pass, then the beat poll (each delivery sends the next pass)."""
    with capture(execute=True):
        pipeline.batch_pass(run.pk)
    for _ in range(polls):
        run.refresh_from_db()
        if run.status != SegmentationRun.Status.RUNNING:
            return run
        with capture(execute=True):
            poll_batches()
    raise AssertionError(f"the run never finished: {run.stage} {run.status}")


def test_a_batch_run_completes_end_to_end_at_half_price(owner, catalog, smart_fake, celery_eager, settings,
                                                        django_capture_on_commit_callbacks):
    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 25
    run = start(owner, catalog)
    assert run.delivery == "batch"
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "completed", run.error
    assert sorted(RefinedProductSegment.objects.filter(run=run).values_list("product_id", flat=True)) == catalog
    assert ProductSegment.objects.filter(run=run).count() == 100
    assert run.result_summary["unassigned"] == 0
    # 4 extract + 1 consolidation + 3 refine calls, every one of them answered in a provider batch.
    paid = LLMQuery.objects.filter(run_id=run.pk).exclude(status="cache_hit")
    assert paid.count() == 8
    assert set(paid.values_list("delivery", flat=True)) == {"batch"}
    assert all(q.provider_batch_id and q.batch_custom_id for q in paid)
    # The passes pick the delivered answers up from the answer cache: paid in the batch, nothing saved.
    pickups = LLMQuery.objects.filter(run_id=run.pk, status="cache_hit")
    assert pickups.exists() and set(pickups.values_list("delivery", flat=True)) == {"batch"}
    assert all(p.saved_cost_usd == 0 and p.provider_batch_id for p in pickups)
    assert not [r for r in smart_fake.requests_for("openai") if not r.path.startswith("/batch/")]
    # One provider batch per stage round: extract, consolidate, refine.
    batches = LLMBatch.objects.for_owner(run.batch_owner)
    assert batches.count() == 3 and {b.state for b in batches} == {LLMBatch.State.DELIVERED}
    model = LLMModel.objects.get(provider__name="openai", name="gpt-4o-mini")
    for q in paid:
        usage = Usage(input_tokens=q.input_tokens, output_tokens=q.output_tokens)
        full = charge_for(model, usage).cost
        assert q.cost_usd == charge_for(model, usage, batch=True).cost
        assert abs(q.cost_usd - full / 2) <= Decimal("0.00000001")  # half price (to the price list's rounding)


def test_missing_ids_are_asked_again_in_the_next_batch_and_bad_json_goes_interactive(
        owner, catalog, fake, providers, celery_eager, settings, django_capture_on_commit_callbacks):
    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 50
    state = {"extract": True, "consolidate": True}

    def reply(req):
        name, schema, prompt = request_parts(req)
        data = answer(name, schema, prompt)
        if name == "ExtractTaxonomyAnswer" and state["extract"]:
            state["extract"] = False
            data["assignments"] = data["assignments"][3:]  # three products left out
        elif name.startswith("Consolidat") and state["consolidate"]:
            state["consolidate"] = False
            return Reply(text="{'segments': [oops")  # fails the schema: complete() re-asks interactively
        return Reply(json=data)

    fake.set_default(reply)
    run = start(owner, catalog[:50])
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "completed", run.error
    assert RefinedProductSegment.objects.filter(run=run).count() == 50
    extract = SegmentationBatch.objects.get(run=run, stage="extract", index=1)
    assert extract.result["retries"] == 1 and not extract.result["unassigned"]
    # The re-ask for the three missing ids went out in a batch of its own, like the first ask.
    rounds = LLMQuery.objects.filter(run_id=run.pk, interaction_type="segmentation").exclude(status="cache_hit")
    assert rounds.count() == 2 and set(rounds.values_list("delivery", flat=True)) == {"batch"}
    retry = [r for r in fake.requests if "Answer again for only these product ids: P_1, P_2, P_3" in json.dumps(r.body)]
    assert len(retry) == 1 and retry[0].path.startswith("/batch/")
    consolidate = LLMQuery.objects.filter(run_id=run.pk, interaction_type="consolidate_taxonomy").exclude(status="cache_hit")
    assert list(consolidate.order_by("pk").values_list("delivery", "status")) == [("batch", "invalid_output"),
                                                                                 ("interactive", "ok")]


def test_the_watchdog_leaves_a_run_waiting_on_its_batch_alone(owner, catalog, smart_fake, celery_eager, settings,
                                                              django_capture_on_commit_callbacks):
    settings.SEGMENTATION_HEARTBEAT_STALE_SECONDS = 1
    smart_fake.set_batch_faults(polls_to_complete=50)
    run = start(owner, catalog)
    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.batch_pass(run.pk) > 0
    # Long quiet: the run looks stale to the watchdog, but its calls are at the provider.
    SegmentationRun.objects.filter(pk=run.pk).update(updated_at=run.created_at.replace(year=2000))
    assert pipeline.waiting_on_provider_batch(run.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stale_runs() == 0
    assert not LLMQuery.objects.filter(run_id=run.pk).exists()  # nothing asked one by one
    assert not SegmentationBatch.objects.filter(run=run).exclude(status="pending").exists()


def test_the_run_page_shows_the_batch_and_cancel_stops_it(owner, owner_client, catalog, smart_fake, celery_eager,
                                                          django_capture_on_commit_callbacks):
    smart_fake.set_batch_faults(polls_to_complete=5)
    run = start(owner, catalog)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.batch_pass(run.pk)
        poll_batches()
    for url in (reverse("segmentation:run", args=[run.pk]), reverse("segmentation:results", args=[run.pk])):
        page = owner_client.get(url).content.decode()
        assert "Provider batch" in page and "In progress" in page, url
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("segmentation:cancel", args=[run.pk]))
    assert response.status_code == 302
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            poll_batches()
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert LLMBatch.objects.get(owner=run.batch_owner).state == LLMBatch.State.CANCELLED
    assert not LLMQuery.objects.filter(run_id=run.pk).exclude(delivery="batch").exists()


def test_the_copy_paste_provider_runs_a_batch_run_interactively(owner, catalog, providers):
    run = pipeline.start_run(owner=owner, product_ids=catalog[:5], category="Dimmer Switches", provider="manual",
                             delivery="batch")
    assert run.delivery == "interactive"


def test_a_fresh_batch_run_is_refused_with_the_reason(owner, catalog, providers):
    with pytest.raises(pipeline.StartError, match="answer cache"):
        start(owner, catalog[:5], fresh=True)
    with pytest.raises(pipeline.StartError, match="delivery must be one of"):
        pipeline.start_run(owner=owner, product_ids=catalog[:5], category="x", provider="openai", delivery="slow")


def test_the_api_and_the_form_take_delivery(owner, owner_client, catalog, smart_fake,
                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post("/api/segmentation/start", {"product_ids": catalog[:10], "category": "Dimmers",
                                                                 "provider": "openai", "delivery": "batch"},
                                     content_type="application/json")
    assert response.status_code == 200, response.content
    run = SegmentationRun.objects.get(pk=response.json()["run_id"])
    assert run.delivery == "batch"
    response = owner_client.post(reverse("segmentation:new"), {
        "product_ids": [str(pk) for pk in catalog[:10]], "category": "Dimmers", "provider": "openai",
        "temperature": "0", "delivery": "batch"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert SegmentationRun.objects.exclude(pk=run.pk).get().delivery == "batch"
    page = owner_client.get(reverse("segmentation:new")).content.decode()
    assert 'name="delivery"' in page


def test_the_segment_command_takes_delivery_batch(owner, catalog, providers, django_capture_on_commit_callbacks):
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    get_user_model().objects.filter(pk=owner.pk).update(is_superuser=True)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("segment", "--category", "Dimmers", "--product-ids", ",".join(map(str, catalog[:10])),
                     "--provider", "openai", "--delivery", "batch", stdout=out)
    run = SegmentationRun.objects.get()
    assert run.delivery == "batch" and "delivery batch" in out.getvalue() and "Enqueued" in out.getvalue()
    assert len(callbacks) == 1  # the first batch pass, sent after commit; nothing was asked here
    assert not LLMQuery.objects.exists()


def test_a_batch_run_over_the_budget_fails_with_the_reason_and_resumes(owner, catalog, smart_fake, celery_eager,
                                                                     settings, django_capture_on_commit_callbacks):
    from llm.models import Budget

    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 25
    budget = Budget.objects.create(period="day", limit_usd=Decimal("0.00001"))
    run = start(owner, catalog)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.batch_pass(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "The provider batch was not sent: Refused before sending" in run.error and "Resume the run" in run.error
    assert not LLMBatch.objects.for_owner(run.batch_owner).exists()
    assert not smart_fake.requests_for("openai")  # nothing was sent, nothing billed
    from llm import definitions

    budget.delete()  # the user raises the budget (here: removes it) and resumes
    definitions.forget()
    pipeline.resume_run(run)
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "completed", run.error
    assert sorted(RefinedProductSegment.objects.filter(run=run).values_list("product_id", flat=True)) == catalog
