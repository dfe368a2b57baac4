"""A real Celery worker on Redis is killed mid-run; the run is resumed on a new worker and finishes once."""

import signal
import time

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


def test_a_killed_worker_leaves_a_run_that_resumes_and_finishes_once(owner, fake, providers, start_worker, settings):
    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 10
    ids = make_products(60)

    def slow(req):
        name, schema, prompt = request_parts(req)
        return Reply(json=answer(name, schema, prompt), delay=0.4)

    fake.set_default(slow)
    first = start_worker("first")
    with transaction.atomic():
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                 model="gpt-4o-mini")
        enqueue(pipeline.pending_batches(run.pk))
    extract = SegmentationBatch.objects.filter(run=run, stage="extract")
    _wait(lambda: extract.filter(status="done").count() >= 2 and extract.filter(status="running").exists(), first,
          what="two extract batches done and one running")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    done_before = set(extract.filter(status="done").values_list("index", flat=True))
    assert SegmentationRun.objects.get(pk=run.pk).status == "running"
    assert extract.filter(status="running").count() == 1  # left behind by the dead worker

    second = start_worker("second")
    run.refresh_from_db()
    with transaction.atomic():
        enqueue(pipeline.resume_run(run))
    _wait(lambda: SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed"), second, timeout=90,
          what="the run to finish")
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert RefinedProductSegment.objects.filter(run=run).count() == 60
    assert ProductSegment.objects.filter(run=run).count() == 60
    for index in done_before:  # finished batches were not asked again
        assert LLMQuery.objects.filter(run_id=run.pk, interaction_type="segmentation", batch=index).count() == 1
