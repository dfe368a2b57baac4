"""Bulk generation with delivery=batch: every step of every item in provider batches, the same pipeline."""

import pytest
from django.urls import reverse

from llm import batch as llm_batch
from llm.batch.models import LLMBatch
from llm.models import LLMQuery
from products import bulk
from products.models import BulkGenerationItem, BulkGenerationJob


@pytest.fixture
def answering(smart_fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9, "reason": "r"}
    return smart_fake


def _run_to_the_end(job, limit=12):
    for _ in range(limit):
        if not bulk.batch_pass(job.pk):
            return
        for _ in range(3):
            llm_batch.poll_due()
    raise AssertionError("the job never finished")


def test_a_bulk_job_in_batch_mode_makes_the_same_products(owner, answering, fake):
    # (products/tests/fakes.SmartModel reads OpenAI's response_format; llm/tests/test_batch.py covers the others)
    provider, model = "openai", "gpt-4o-mini"
    job = bulk.create_job(owner=owner, inputs=["Glide dimmer 600 W", "Glide dimmer 400 W"], provider_name=provider,
                          model_name=model, enqueue=False, delivery="batch")
    assert job.delivery == "batch"
    _run_to_the_end(job)
    job.refresh_from_db()
    assert (job.done, job.failed, job.status) == (2, 0, "completed")
    items = list(job.items.select_related("session__product"))
    assert all(i.session.product.title == "Lumora Glide 600 W Smart Dimmer Switch, Wi-Fi" for i in items)
    # Three steps, one batch round each; every answer arrived in a batch (none asked one by one).
    batches = LLMBatch.objects.for_owner(job.batch_owner)
    assert batches.count() == 3 and {b.state for b in batches} == {LLMBatch.State.DELIVERED}
    paid = LLMQuery.objects.filter(purpose__startswith="products.").exclude(status="cache_hit")
    assert paid.count() == 6 and set(paid.values_list("delivery", flat=True)) == {"batch"}
    assert all(r.provider_batch_id and r.batch_custom_id for r in paid)
    pickups = LLMQuery.objects.filter(purpose__startswith="products.", status="cache_hit")
    assert pickups.exists() and set(pickups.values_list("delivery", "saved_cost_usd")) == {("batch", 0)}
    assert not [r for r in fake.requests_for(provider) if not r.path.startswith("/batch/")]
    # The step logs are the interactive pipeline's own.
    assert items[0].session.step_logs.count() == 3


def test_the_copy_paste_provider_runs_a_batch_job_interactively(owner, providers):
    job = bulk.create_job(owner=owner, inputs=["x"], provider_name="manual", enqueue=False, delivery="batch")
    assert job.delivery == "interactive"


def test_the_run_page_shows_the_batch_and_cancels_it(owner, owner_client, answering, fake):
    fake.set_batch_faults(polls_to_complete=5)
    job = bulk.create_job(owner=owner, inputs=["Glide dimmer 600 W"], provider_name="openai", model_name="gpt-4o-mini",
                          enqueue=False, delivery="batch")
    bulk.batch_pass(job.pk)
    llm_batch.poll_due()
    page = owner_client.get(reverse("products:bulk-detail", args=[job.pk])).content.decode()
    assert "Provider batch" in page and "In progress" in page and "Cancel the batch" in page
    response = owner_client.post(reverse("products:bulk-cancel", args=[job.pk]))
    assert response.status_code == 302
    for _ in range(3):
        llm_batch.poll_due()
    item = BulkGenerationItem.objects.get(job=job)
    assert item.status == BulkGenerationItem.Status.FAILED and "ancel" in item.error
    assert LLMBatch.objects.get(owner=job.batch_owner).state == LLMBatch.State.CANCELLED
    BulkGenerationJob.objects.get(pk=job.pk).refresh_counts()


def test_the_command_takes_delivery_batch(owner, answering):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--now runs the items here"):
        call_command("generate_product", "--text", "a dimmer", "--user", owner.username, "--now", "--delivery", "batch",
                     stdout=StringIO())


def test_a_batch_job_over_the_budget_fails_its_items_with_the_reason(owner, answering, fake):
    from decimal import Decimal

    from llm.models import Budget

    Budget.objects.create(period="day", limit_usd=Decimal("0.00001"))
    job = bulk.create_job(owner=owner, inputs=["Glide dimmer 600 W", "Glide dimmer 400 W"], provider_name="openai",
                          model_name="gpt-4o-mini", enqueue=False, delivery="batch")
    assert bulk.batch_pass(job.pk) == 0
    job.refresh_from_db()
    assert (job.done, job.failed) == (0, 2)
    assert all("The provider batch was not sent: Refused before sending" in i.error for i in job.items.all())
    assert not LLMBatch.objects.for_owner(job.batch_owner).exists() and not fake.requests_for("openai")
