"""manage.py generate_product and bulk jobs: Celery items with progress, each step resumable."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from products import bulk
from products.models import BulkGenerationItem, BulkGenerationJob, GenerationSession, Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def answering(smart_fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9, "reason": "r"}
    return smart_fake


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("generate_product", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_text_now_generates_and_saves_a_product(owner, answering):
    out = run("--text", "Glide dimmer 600 W", "--user", "owner", "--provider", "openai", "--model", "gpt-4o-mini", "--now")
    product = Product.objects.get(source="generated")
    assert f"→ product #{product.pk}" in out and "1 done, 0 failed" in out
    assert answering.seen == ["CategoryChoice", "ProductAttributes", "ProductContent"]
    assert product.subcategory.name == "Dimmer Switches" and product.attributes["Max load"] == 600


def test_csv_items_run_as_celery_tasks_with_progress(owner, answering, celery_eager, tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "in.csv"
    path.write_text("title,description\nGlide dimmer,600 W Wi-Fi\n,\nBeam dimmer,400 W\n", encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        out = run("--csv", str(path), "--user", "owner", "--provider", "openai", "--model", "gpt-4o-mini")
    assert "2 item(s)" in out and "Queued" in out
    job = BulkGenerationJob.objects.get()
    assert (job.status, job.total, job.done, job.failed) == ("completed", 2, 2, 0)
    assert Product.objects.filter(source="generated").count() == 2
    assert job.items.get(position=1).raw_input == "Glide dimmer\n\n600 W Wi-Fi"


def test_the_progress_page_is_the_owners_only(owner_client, owner, outsider, client, answering):
    job = bulk.create_job(owner=owner, inputs=["Glide dimmer"], provider_name="openai", model_name="gpt-4o-mini", enqueue=False)
    page = owner_client.get(reverse("products:bulk-detail", args=[job.pk]))
    assert page.status_code == 200 and 'hx-trigger="every 2s"' in page.content.decode()
    client.force_login(outsider)
    assert client.get(reverse("products:bulk-detail", args=[job.pk])).status_code == 404


def test_a_rerun_item_skips_the_steps_that_already_have_results(owner, answering, fake):
    job = bulk.create_job(owner=owner, inputs=["Glide dimmer 600 W"], provider_name="openai", model_name="gpt-4o-mini",
                          enqueue=False)
    item = job.items.get()
    answering.content = {"title": ""}  # step 4 fails: the answer never fits the schema
    item = bulk.run_item(item.pk)
    assert item.status == BulkGenerationItem.Status.FAILED and "schema" in item.error
    assert answering.seen.count("CategoryChoice") == 1 and answering.seen.count("ProductAttributes") == 1

    from products.tests.fakes import CONTENT

    answering.content = dict(CONTENT)
    answering.seen.clear()
    BulkGenerationItem.objects.filter(pk=item.pk).update(status=BulkGenerationItem.Status.QUEUED)
    item = bulk.run_item(item.pk)
    assert item.status == BulkGenerationItem.Status.DONE
    assert answering.seen == ["ProductContent"]  # identify and map were not re-run
    assert GenerationSession.objects.count() == 1
    job.refresh_from_db()
    assert (job.done, job.failed, job.status) == (1, 0, "completed")
    assert bulk.run_item(item.pk) is None  # a finished item is not claimed again


def test_an_item_without_its_required_attributes_needs_review(owner, answering):
    answering.attributes = {**answering.attributes, "max_load": None}
    job = bulk.create_job(owner=owner, inputs=["A dimmer"], provider_name="openai", model_name="gpt-4o-mini", enqueue=False)
    item = bulk.run_item(job.items.get().pk)
    assert item.status == BulkGenerationItem.Status.NEEDS_REVIEW and "Max load: is required" in item.error
    assert not Product.objects.filter(source="generated").exists()


def test_the_upload_page_queues_a_job(owner_client, answering, celery_eager, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("items.csv", b"text\nGlide dimmer 600 W\n", content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("products:bulk"), {"file": upload, "provider": "openai", "model": "gpt-4o-mini"})
    job = BulkGenerationJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.done == 1


def test_a_csv_without_the_columns_is_refused(owner_client, providers):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("items.csv", b"name,price\nx,1\n", content_type="text/csv")
    response = owner_client.post(reverse("products:bulk"), {"file": upload})
    assert response.status_code == 200 and "needs a header with a `text` column" in response.content.decode()
    assert not BulkGenerationJob.objects.exists()


def test_the_command_explains_bad_arguments(owner, tmp_path):
    with pytest.raises(CommandError, match="Give --text"):
        run("--user", "owner")
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run("--text", "x", "--user", "ghost")
    with pytest.raises(CommandError, match="Cannot read"):
        run("--csv", str(tmp_path / "missing.csv"), "--user", "owner")


def test_an_item_on_the_copy_paste_provider_resumes_when_the_answer_is_pasted(
    owner, providers, catalog_ready, celery_eager, django_capture_on_commit_callbacks
):
    import json

    from llm.calls import submit_answer
    from llm.models import LLMProvider

    manual = LLMProvider.objects.get(kind=LLMProvider.Kind.MANUAL)
    job = bulk.create_job(owner=owner, inputs=["Glide dimmer"], provider_name=manual.name, enqueue=False)
    item = bulk.run_item(job.items.get().pk)
    assert item.status == BulkGenerationItem.Status.WAITING_MANUAL
    query_id = item.session.pending_query_id
    dimmers = catalog_ready["dimmers"]
    with django_capture_on_commit_callbacks(execute=True):
        result = submit_answer(query_id, json.dumps({"category_id": dimmers.category_id, "subcategory_id": dimmers.pk,
                                                     "confidence": 1, "reason": "pasted"}), "chat", owner)
    assert result.ok, result.error
    item.refresh_from_db()
    item.session.refresh_from_db()
    # Step 2 is done; step 3 now waits for its own paste.
    assert item.session.suggested_subcategory == dimmers
    assert item.status == BulkGenerationItem.Status.WAITING_MANUAL and item.session.pending_query_id != query_id
    assert item.session.status_of("map_attributes") == "waiting_manual"
