"""A real Celery worker on Redis is killed mid-run; the run is resumed on a new worker and finishes once."""

import signal
import time
from datetime import timedelta

import pytest
from django.db import transaction

from llm.models import LLMQuery
from llm.testing.fake_provider import Reply
from segmentation import pipeline
from segmentation.models import ProductSegment, RefinedProductSegment, SegmentationBatch, SegmentationRun
from segmentation.tasks import enqueue

from .fakes import answer, make_products, request_parts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_worker(celery_workers):
    return celery_workers.start


def _wait(condition, proc, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, "the worker died"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_leaves_a_run_that_a_new_worker_resumes_by_itself_and_finishes_once(
        owner, fake, providers, start_worker, settings):
    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 10
    stale = {"SEGMENTATION_HEARTBEAT_STALE_SECONDS": "2"}  # beats every 0.5 s; a silent batch is stale after 2 s
    ids = make_products(60)

    def slow(req):  # an extract batch lasts ~1 s: heartbeats (every 0.5 s) happen while it runs
        name, schema, prompt = request_parts(req)
        return Reply(json=answer(name, schema, prompt), delay=1.0 if name == "ExtractTaxonomyAnswer" else 0.2)

    fake.set_default(slow)
    first = start_worker("first", env=stale)
    with transaction.atomic():
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                 model="gpt-4o-mini")
        enqueue(pipeline.pending_batches(run.pk))
    extract = SegmentationBatch.objects.filter(run=run, stage="extract")

    def beating_mid_batch():
        # Two batches done, and the running one has had a heartbeat since its claim (so it is mid-call).
        return extract.filter(status="done").count() >= 2 and any(
            beat and beat > started + timedelta(seconds=0.3)
            for started, beat in extract.filter(status="running").values_list("started_at", "heartbeat_at"))

    _wait(beating_mid_batch, first, what="two extract batches done and a heartbeat from the running one")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = time.monotonic()
    done_before = set(extract.filter(status="done").values_list("index", flat=True))
    assert SegmentationRun.objects.get(pk=run.pk).status == "running"
    assert extract.filter(status="running").count() == 1  # left behind by the dead worker

    # No resume call: the new worker notices the dead worker's batch (its heartbeat went stale) by itself.
    second = start_worker("second", env=stale)
    _wait(lambda: SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed"), second, timeout=90,
          what="the run to finish")
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert run.auto_resumes == 1
    assert time.monotonic() - killed_at < 60  # not the 10-minute task time limit of before
    assert RefinedProductSegment.objects.filter(run=run).count() == 60
    assert ProductSegment.objects.filter(run=run).count() == 60
    assert sorted(RefinedProductSegment.objects.filter(run=run).values_list("product_id", flat=True)) == sorted(ids)
    for index in done_before:  # finished batches were not asked again
        assert LLMQuery.objects.filter(run_id=run.pk, interaction_type="segmentation", batch=index).count() == 1
    assert not SegmentationBatch.objects.filter(run=run).exclude(status="done").exists()
