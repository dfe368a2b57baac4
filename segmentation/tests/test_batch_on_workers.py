"""Issue 21, done when: a segmentation run in batch mode completes end to end on real Celery workers
against the fake's batch API, with the worker killed (kill -9) while it polls the provider batch,
and its results are the same as an interactive run's over the same products."""

import signal
import time

import pytest

from conftest import wait_until
from llm.batch.models import LLMBatch
from llm.models import LLMQuery
from llm.tasks import poll_batches

from segmentation import pipeline
from segmentation.models import ProductSegment, RefinedProductSegment, SegmentationRun
from segmentation.tasks import start

from .fakes import make_products, responder

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _assignments(run) -> dict[int, str]:
    return dict(RefinedProductSegment.objects.filter(run=run).values_list("product_id", "taxonomy__category_name"))


def test_a_batch_run_finishes_on_workers_after_one_is_killed_mid_poll(owner, fake, providers, celery_workers, settings):
    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 20
    fake.set_default(responder)
    ids = make_products(60)
    run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                             model="gpt-4o-mini", delivery="batch")
    lease = {"LLM_BATCH_LEASE_SECONDS": "1"}
    first = celery_workers.start("first", env=lease)
    start(run.pk, [])  # the first pass, on the worker: it gathers the extract calls and submits them
    batches = LLMBatch.objects.for_owner(run.batch_owner)
    wait_until(lambda: batches.exists(), [first], "the extract stage's provider batch")

    fake.set_batch_faults(retrieve_delay=60)  # the worker's status poll of that batch hangs ...
    poll_batches.delay()
    wait_until(lambda: fake.batch_store.retrieves_waiting > 0, [first], "the worker's status poll")
    first.send_signal(signal.SIGKILL)  # ... and the worker dies in it
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    fake.set_batch_faults()

    second = celery_workers.start("second", env=lease)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # what the beat does: a poll every few seconds (here, twice a second)
        run.refresh_from_db()
        if run.status != SegmentationRun.Status.RUNNING:
            break
        assert second.poll() is None, f"the worker died (log: {second.log_path})"
        poll_batches.delay()
        time.sleep(0.5)
    assert run.status == SegmentationRun.Status.COMPLETED, (run.status, run.error)

    # Every call was answered in a provider batch, each request paid for once, each batch once.
    paid = LLMQuery.objects.filter(run_id=run.pk).exclude(status="cache_hit")
    assert paid.count() == 3 + 1 + 2  # extract (20 per prompt), one consolidation, refine (40 per refinement)
    assert set(paid.values_list("delivery", flat=True)) == {"batch"} and set(paid.values_list("status", flat=True)) == {"ok"}
    assert len(set(paid.values_list("batch_custom_id", flat=True))) == paid.count()
    assert {b.state for b in batches} == {LLMBatch.State.DELIVERED}
    assert len([b for b in fake.batch_store.batches.values() if b.provider == "openai"]) == batches.count() == 3
    assert not [r for r in fake.requests_for("openai") if not r.path.startswith("/batch/")]  # none one by one

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
