"""Two real workers on the real Redis broker share a segmentation run; one is stopped mid-run and
no work is lost or done twice."""

import re
import signal
import time

import pytest
from django.db import transaction
from django.db.models import Count

from conftest import wait_until
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply
from ops import watchdog
from segmentation import pipeline
from segmentation.pipeline import INTERACTION_TYPES
from segmentation.models import RefinedProductSegment, SegmentationBatch, SegmentationRun
from segmentation.tasks import enqueue
from segmentation.tests.fakes import answer, make_products, request_parts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

N_PRODUCTS = 96
SUCCEEDED = re.compile(r"Task segmentation\.tasks\.run_batch\[[0-9a-f-]+\] succeeded")


def batches_done_by(proc) -> int:
    return len(SUCCEEDED.findall(proc.log_path.read_text()))


def ready(proc) -> bool:
    return " ready." in proc.log_path.read_text()


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_two_workers_share_a_run_and_one_stopping_loses_nothing(stop, owner, fake, providers, celery_workers, settings):
    """SIGTERM: a warm shutdown finishes the batch in hand and gives back the prefetched message.
    SIGKILL: the batch in hand stays "running" until its heartbeat goes stale; the watchdog (run
    here as beat would run it) resumes it on the remaining worker."""
    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 8  # 12 extract batches, 12 refine batches
    settings.SEGMENTATION_HEARTBEAT_STALE_SECONDS = 2
    celery_workers.env["SEGMENTATION_HEARTBEAT_STALE_SECONDS"] = "2"
    ids = make_products(N_PRODUCTS)

    def slow(req):
        name, schema, prompt = request_parts(req)
        return Reply(json=answer(name, schema, prompt), delay=0.15)

    fake.set_default(slow)
    w1, w2 = celery_workers.start("w1"), celery_workers.start("w2")
    wait_until(lambda: ready(w1) and ready(w2), [w1, w2], "both workers to be ready", timeout=30)
    with transaction.atomic():
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                 model="gpt-4o-mini")
        enqueue(pipeline.pending_batches(run.pk))

    # Both take batches from the one bulk queue (prefetch 1: neither hoards them).
    wait_until(lambda: batches_done_by(w1) >= 2 and batches_done_by(w2) >= 2, [w1, w2],
               "both workers to finish batches", timeout=30)
    assert SegmentationRun.objects.get(pk=run.pk).status == "running"
    left_at_stop = SegmentationBatch.objects.filter(run=run).exclude(status="done").count()
    w2.send_signal(getattr(signal, stop))
    w2.wait(timeout=20)
    stopped_after = batches_done_by(w2)
    done_before = set(SegmentationBatch.objects.filter(run=run, status="done").values_list("stage", "index"))
    started = time.monotonic()

    def finished():
        if stop == "SIGKILL":
            watchdog.run()
        return SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed")

    wait_until(finished, [w1], "the run to finish on the remaining worker", timeout=40, every=0.5)

    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert batches_done_by(w1) > 0 and stopped_after >= 2
    assert left_at_stop >= 5  # stopped mid-run: the remaining worker had real work left
    assert not SegmentationBatch.objects.filter(run=run).exclude(status="done").exists()
    # Every product has exactly one refined segment.
    refined = RefinedProductSegment.objects.filter(run=run)
    assert refined.count() == N_PRODUCTS
    assert set(refined.values_list("product_id", flat=True)) == set(ids)
    # No completed batch's model call was made twice (one logged call per batch and stage). Only
    # the batch a killed worker had in hand may be asked again.
    calls = {(c["interaction_type"], c["batch"]): c["n"] for c in LLMQuery.objects.filter(run_id=run.pk)
             .exclude(status=LLMQuery.Status.CACHE_HIT).values("interaction_type", "batch").annotate(n=Count("id"))}
    def calls_of(stage, index):  # the consolidation call is logged without a batch number
        kind = INTERACTION_TYPES[stage]
        return calls.get((kind, index), calls.get((kind, None)))

    assert done_before and all(calls_of(stage, index) == 1 for stage, index in done_before), calls
    twice = {key: n for key, n in calls.items() if n > 1}
    assert len(twice) <= (1 if stop == "SIGKILL" else 0), twice
    # Every provider request has its row (the row is committed before the request is sent). A worker
    # killed with SIGKILL between that commit and the send leaves one row whose request never left.
    unsent = 1 if stop == "SIGKILL" else 0
    assert sum(calls.values()) - unsent <= len(fake.requests) <= sum(calls.values()), (len(fake.requests), calls)
    assert time.monotonic() - started < 40
