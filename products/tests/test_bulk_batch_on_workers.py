"""Issue 21, done when: a bulk generation job in batch mode completes end to end on real Celery
workers against the fake's batch API, with the worker killed (kill -9) while it polls the provider
batch, and makes the same products as an interactive job."""

import signal
import time

import pytest

from conftest import wait_until
from llm.batch.models import LLMBatch
from llm.models import LLMQuery
from llm.tasks import poll_batches
from products import bulk
from products.models import BulkGenerationJob

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

INPUTS = ["Glide dimmer 600 W", "Glide dimmer 400 W", "Glide dimmer 300 W"]


@pytest.fixture
def answering(smart_fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9, "reason": "r"}
    return smart_fake


def _products(job) -> list[tuple]:
    items = job.items.select_related("session__product").order_by("position", "pk")
    return [(i.raw_input, i.session.product.title, i.session.product.subcategory_id, i.session.step_logs.count())
            for i in items]


def test_a_batch_job_finishes_on_workers_after_one_is_killed_mid_poll(owner, answering, fake, celery_workers):
    lease = {"LLM_BATCH_LEASE_SECONDS": "1"}
    first = celery_workers.start("first", env=lease)
    job = bulk.create_job(owner=owner, inputs=INPUTS, provider_name="openai", model_name="gpt-4o-mini",
                          delivery="batch")  # enqueued at once (no transaction open): the first pass, on the worker
    batches = LLMBatch.objects.for_owner(job.batch_owner)
    wait_until(lambda: batches.exists(), [first], "the first step's provider batch")

    fake.set_batch_faults(retrieve_delay=60)  # the worker's status poll hangs ...
    poll_batches.delay()
    wait_until(lambda: fake.batch_store.retrieves_waiting > 0, [first], "the worker's status poll")
    first.send_signal(signal.SIGKILL)  # ... and the worker dies in it
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    fake.set_batch_faults()

    second = celery_workers.start("second", env=lease)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the beat's poll, twice a second
        job.refresh_from_db()
        if job.status == BulkGenerationJob.Status.COMPLETED:
            break
        assert second.poll() is None, f"the worker died (log: {second.log_path})"
        poll_batches.delay()
        time.sleep(0.5)
    assert (job.status, job.done, job.failed) == ("completed", 3, 0)

    paid = LLMQuery.objects.filter(purpose__startswith="products.").exclude(status="cache_hit")
    assert paid.count() == 3 * 3 and set(paid.values_list("delivery", flat=True)) == {"batch"}
    assert len(set(paid.values_list("batch_custom_id", flat=True))) == paid.count()  # each request paid once
    assert {b.state for b in batches} == {LLMBatch.State.DELIVERED}
    assert len([b for b in fake.batch_store.batches.values() if b.provider == "openai"]) == batches.count() == 3
    assert not [r for r in fake.requests_for("openai") if not r.path.startswith("/batch/")]

    # An interactive job over the same inputs (run here, item by item) makes the same products.
    interactive = bulk.create_job(owner=owner, inputs=INPUTS, provider_name="openai", model_name="gpt-4o-mini",
                                  enqueue=False)
    for item in interactive.items.all():
        bulk.run_item(item.pk)
    interactive.refresh_from_db()
    assert (interactive.status, interactive.done) == ("completed", 3)
    assert [p[1:] for p in _products(job)] == [p[1:] for p in _products(interactive)]
    assert all(steps == 3 for *_, steps in _products(job))
