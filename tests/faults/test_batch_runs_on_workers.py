"""Issue 21, done when: a segmentation run and a bulk generation job in batch mode complete end to
end on real Celery workers against the fake's batch API, with the worker killed (kill -9) while it
polls the provider batch, and give the same results as interactive runs over the same input."""

import pytest

from llm.batch.models import LLMBatch
from llm.models import LLMQuery
from products.tests.conftest import (  # noqa: F401  (the products tests' fixtures)
    _fresh_catalog_cache, catalog_ready, dimmer_attributes, dimmers, knives, smart_fake,
)

from .processes import beat_polls_until, kill_9_in_batch_poll, start_worker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LEASE = {"LLM_BATCH_LEASE_SECONDS": "1"}  # a dead worker's claim on its batch runs out soon


def _paid_once_in_batches(fake, paid, batches) -> None:
    """Every call answered in a provider batch, each request paid for once, each batch once, none one by one."""
    assert set(paid.values_list("delivery", flat=True)) == {"batch"}
    assert len(set(paid.values_list("batch_custom_id", flat=True))) == paid.count()
    assert {b.state for b in batches} == {LLMBatch.State.DELIVERED}
    assert len([b for b in fake.batch_store.batches.values() if b.provider == "openai"]) == batches.count() == 3
    assert not [r for r in fake.requests_for("openai") if not r.path.startswith("/batch/")]


def _assignments(run) -> dict[int, str]:
    from segmentation.models import RefinedProductSegment

    return dict(RefinedProductSegment.objects.filter(run=run).values_list("product_id", "taxonomy__category_name"))


def test_a_segmentation_batch_run_finishes_after_its_worker_is_killed_mid_poll(owner, fake, providers, celery_workers,
                                                                               settings):
    from segmentation import pipeline
    from segmentation.models import ProductSegment, SegmentationRun
    from segmentation.tasks import start
    from segmentation.tests.fakes import make_products, responder

    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 20
    fake.set_default(responder)
    ids = make_products(60)
    run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                             model="gpt-4o-mini", delivery="batch")
    first = start_worker(celery_workers, "first", env=LEASE)
    start(run.pk, [])  # the first pass, on the worker: it gathers the extract calls and submits them
    batches = LLMBatch.objects.for_owner(run.batch_owner)
    wait_until(lambda: batches.exists(), [first], "the extract stage's provider batch")
    kill_9_in_batch_poll(fake, first)

    second = start_worker(celery_workers, "second", env=LEASE)

    def finished():
        run.refresh_from_db()
        return run.status != SegmentationRun.Status.RUNNING

    beat_polls_until(finished, second, "the run")
    assert run.status == SegmentationRun.Status.COMPLETED, (run.status, run.error)

    paid = LLMQuery.objects.filter(run_id=run.pk).exclude(status="cache_hit")
    assert paid.count() == 3 + 1 + 2  # extract (20 per prompt), one consolidation, refine (40 per refinement)
    assert set(paid.values_list("status", flat=True)) == {"ok"}
    _paid_once_in_batches(fake, paid, batches)

    # The same results as an interactive run over the same products, asked one by one (not from the
    # answer cache the batch run filled).
    settings.LLM_CACHE_ENABLED = False
    sent = len(fake.requests_for("openai"))
    interactive = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                     model="gpt-4o-mini")
    interactive = pipeline.run_inline(interactive.pk, workers=1)
    assert interactive.status == SegmentationRun.Status.COMPLETED
    assert _assignments(run) == _assignments(interactive) and len(_assignments(run)) == len(ids)
    assert ProductSegment.objects.filter(run=run).count() == ProductSegment.objects.filter(run=interactive).count() == 60
    assert len(fake.requests_for("openai")) - sent == paid.count()  # each call asked again, interactively
    figures = ("products", "refined_products", "taxonomies", "unassigned", "unassigned_first_pass", "extract_unassigned",
               "changed_in_refinement", "unknown_ids_ignored", "duplicate_ids", "retries")
    assert {k: run.result_summary[k] for k in figures} == {k: interactive.result_summary[k] for k in figures}
    # Tokens alike; the batch run paid half (its llm_calls also count the passes' pickups of delivered answers).
    assert run.result_summary["input_tokens"] == interactive.result_summary["input_tokens"] > 0


INPUTS = ["Glide dimmer 600 W", "Glide dimmer 400 W", "Glide dimmer 300 W"]


def _products(job) -> list[tuple]:
    items = job.items.select_related("session__product").order_by("position", "pk")
    return [(i.raw_input, i.session.product.title, i.session.product.subcategory_id, i.session.step_logs.count())
            for i in items]


def test_a_bulk_batch_job_finishes_after_its_worker_is_killed_mid_poll(owner, smart_fake, catalog_ready, fake,
                                                                       celery_workers):
    from products import bulk
    from products.models import BulkGenerationJob

    dimmers = catalog_ready["dimmers"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9, "reason": "r"}
    first = start_worker(celery_workers, "first", env=LEASE)
    job = bulk.create_job(owner=owner, inputs=INPUTS, provider_name="openai", model_name="gpt-4o-mini",
                          delivery="batch")  # enqueued at once (no transaction open): the first pass, on the worker
    batches = LLMBatch.objects.for_owner(job.batch_owner)
    wait_until(lambda: batches.exists(), [first], "the first step's provider batch")
    kill_9_in_batch_poll(fake, first)

    second = start_worker(celery_workers, "second", env=LEASE)

    def finished():
        job.refresh_from_db()
        return job.status == BulkGenerationJob.Status.COMPLETED

    beat_polls_until(finished, second, "the job")
    assert (job.status, job.done, job.failed) == ("completed", 3, 0)

    paid = LLMQuery.objects.filter(purpose__startswith="products.").exclude(status="cache_hit")
    assert paid.count() == 3 * 3
    _paid_once_in_batches(fake, paid, batches)

    # An interactive job over the same inputs (run here, item by item) makes the same products.
    interactive = bulk.create_job(owner=owner, inputs=INPUTS, provider_name="openai", model_name="gpt-4o-mini",
                                  enqueue=False)
    for item in interactive.items.all():
        bulk.run_item(item.pk)
    interactive.refresh_from_db()
    assert (interactive.status, interactive.done) == ("completed", 3)
    assert [p[1:] for p in _products(job)] == [p[1:] for p in _products(interactive)]
    assert all(steps == 3 for *_, steps in _products(job))
