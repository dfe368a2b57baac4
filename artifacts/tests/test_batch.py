"""Batch generation: one type for several notes as a Celery group, failures per note."""

import json

import pytest
from django.urls import reverse

from artifacts.models import BatchRun, NoteArtifact
from llm.testing.fake_provider import Reply
from notes.models import Note

pytestmark = pytest.mark.django_db


def test_a_batch_runs_every_note_and_reports_failures_per_note(owner_client, owner, note, providers, fake, celery_eager, run_on_commit):
    other = Note.objects.create(owner=owner, page_title="Photosynthesis", body="Light reactions make ATP.")
    # The fake fails the request that mentions photosynthesis, answers the others.
    fake.set_default(lambda req: Reply(status=400, error_message="refused by fake") if "Photosynthesis" in json.dumps(req.body)
                     else Reply(text="Summary."))
    with run_on_commit():
        response = owner_client.post("/api/artifacts/batch", data=json.dumps(
            {"note_ids": [note.pk, other.pk], "artifact_type": "summary"}), content_type="application/json")
    assert response.status_code == 202
    batch = BatchRun.objects.get()
    data = owner_client.get(f"/api/artifacts/batch/{batch.pk}").json()
    assert data["progress"] == {"total": 2, "done": 2, "completed": 1, "failed": 1, "waiting": 0, "percent": 100, "finished": True}
    failed = next(i for i in data["items"] if i["status"] == "failed")
    assert failed["note_id"] == other.pk and "refused by fake" in failed["error"]
    page = owner_client.get(reverse("artifacts:batch", args=[batch.pk])).content.decode()
    assert "<progress" in page and "1 completed" in page and "1 failed" in page and "refused by fake" in page


def test_the_batch_form_on_the_index_page(owner_client, owner, note, providers, fake, celery_eager, run_on_commit):
    fake.set_default(Reply(text="Key points."))
    with run_on_commit():
        response = owner_client.post(reverse("artifacts:batch-create"), {"notes": [note.pk], "artifact_type": "key_points",
                                     "generation_mode": "app_key"})
    batch = BatchRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("artifacts:batch", args=[batch.pk])
    assert NoteArtifact.objects.get().status == "completed"


def test_a_batch_cannot_include_someone_elses_note(client, outsider, note, providers):
    client.force_login(outsider)
    response = client.post(reverse("artifacts:batch-create"), {"notes": [note.pk], "artifact_type": "summary",
                           "generation_mode": "app_key"})
    assert response.status_code == 302 and not BatchRun.objects.exists()
    batch = BatchRun.objects.create(user=note.owner, artifact_type="summary")
    assert client.get(reverse("artifacts:batch", args=[batch.pk])).status_code == 404
    assert client.get(f"/api/artifacts/batch/{batch.pk}").status_code == 404


def test_a_batch_with_delivery_batch_goes_out_as_one_provider_batch(owner_client, owner, note, providers, fake,
                                                                     celery_eager, run_on_commit):
    from llm import batch as llm_batch
    from llm.batch.models import LLMBatch
    from llm.models import LLMQuery

    other = Note.objects.create(owner=owner, page_title="Photosynthesis", body="Light reactions make ATP.")
    fake.set_default(Reply(text="Summary."))
    fake.set_batch_faults(polls_to_complete=1)
    with run_on_commit():
        response = owner_client.post("/api/artifacts/batch", data=json.dumps(
            {"note_ids": [note.pk, other.pk], "artifact_type": "summary", "delivery": "batch"}),
            content_type="application/json")
    assert response.status_code == 202
    run = BatchRun.objects.get()
    assert run.delivery == "batch"
    provider_batch = LLMBatch.objects.get(owner=run.batch_owner)
    assert provider_batch.total == 2 and provider_batch.provider_batch_id
    with run_on_commit():
        llm_batch.poll_due()
    page = owner_client.get(reverse("artifacts:batch", args=[run.pk])).content.decode()
    assert "Provider batch" in page and "Cancel the batch" in page
    with run_on_commit():
        llm_batch.poll_due()  # ends: delivered, then the next pass completes both artifacts
    assert set(NoteArtifact.objects.values_list("status", flat=True)) == {"completed"}
    rows = LLMQuery.objects.filter(purpose="artifacts.summary").exclude(status="cache_hit")
    assert rows.count() == 2 and set(rows.values_list("delivery", flat=True)) == {"batch"}
    assert not [r for r in fake.requests if r.route in ("openai", "anthropic", "gemini") and not r.path.startswith("/batch/")]


def test_a_batch_form_with_an_unknown_delivery_is_refused(owner_client, note, providers):
    response = owner_client.post("/api/artifacts/batch", data=json.dumps(
        {"note_ids": [note.pk], "artifact_type": "summary", "delivery": "later"}), content_type="application/json")
    assert response.status_code == 422


def test_a_provider_batch_over_the_budget_fails_each_note_with_the_reason(owner_client, owner, note, providers, fake,
                                                                          celery_eager, run_on_commit):
    from decimal import Decimal

    from llm.batch.models import LLMBatch
    from llm.models import Budget

    Budget.objects.create(period="day", limit_usd=Decimal("0.0000001"))
    with run_on_commit():
        response = owner_client.post("/api/artifacts/batch", data=json.dumps(
            {"note_ids": [note.pk], "artifact_type": "summary", "delivery": "batch"}), content_type="application/json")
    assert response.status_code == 202
    run = BatchRun.objects.get()
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "failed" and "The provider batch was not sent: Refused before sending" in artifact.error
    assert not LLMBatch.objects.filter(owner=run.batch_owner).exists() and not fake.requests
    page = owner_client.get(reverse("artifacts:batch", args=[run.pk])).content.decode()
    assert "1 failed" in page
