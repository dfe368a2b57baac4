"""Every pipeline, on real workers, with 30 % of the provider calls going wrong: each run ends
completed or cleanly failed, every input is accounted for, every attempt is logged with the
status of its fault, and retries stay bounded."""

import json

import pytest
from django.db import transaction

from conftest import wait_until
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

from .conftest import FAULTS, audit_log

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_segmentation_of_500_products(owner, fake, providers, faulty_workers, settings):
    from segmentation import pipeline
    from segmentation.models import RefinedProductSegment, SegmentationBatch, SegmentationRun
    from segmentation.tasks import enqueue
    from segmentation.tests.fakes import make_products, responder

    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 25
    settings.SEGMENTATION_PRODUCTS_PER_REFINEMENT = 25
    ids = make_products(500)
    fake.set_default(responder)
    fake.set_faults(**FAULTS)
    worker = faulty_workers("seg", env={"SEGMENTATION_PRODUCTS_PER_REFINEMENT": "25", "SEGMENTATION_CONCURRENCY": "2"})
    with transaction.atomic():
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                 model="gpt-4o-mini")
        enqueue(pipeline.pending_batches(run.pk))
    wait_until(lambda: SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed"), [worker],
               "the segmentation run to finish", timeout=90)
    run.refresh_from_db()
    if run.status == "failed":  # e.g. four transport faults in a row on one call: a clean stop, resumable
        assert "Resume the run" in run.error, run.error
        print(f"segmentation under faults failed cleanly, resuming: {run.error[:200]}")
        with transaction.atomic():
            enqueue(pipeline.resume_run(run))
        wait_until(lambda: SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed"), [worker],
                   "the resumed run to finish", timeout=60)
        run.refresh_from_db()
    assert run.status == "completed", (run.error, fake.faults_injected())
    refined = RefinedProductSegment.objects.filter(run=run)
    assert refined.count() == 500 and set(refined.values_list("product_id", flat=True)) == set(ids)
    assert run.result_summary["refined_products"] == 500
    assert not SegmentationBatch.objects.filter(run=run).exclude(status="done").exists()
    counts = audit_log(fake, LLMQuery.objects.filter(run_id=run.pk))
    print(f"segmentation under faults: {run.result_summary}, faults {counts}")


def test_a_codegen_chain(owner, fake, providers, faulty_workers):
    from codegen import pipeline
    from codegen.models import CodegenRun
    from codegen.tasks import enqueue
    from codegen.tests.demo import FILES, DemoModel

    fake.set_default(DemoModel())
    fake.set_faults(**FAULTS)
    worker = faulty_workers("cg")
    run = pipeline.create_run(owner=owner, name="cars", description="Manage cars.", provider="openai",
                              model="gpt-4o-mini")
    enqueue(run.pk)
    wait_until(lambda: CodegenRun.objects.get(pk=run.pk).is_finished, [worker], "the codegen run to finish", timeout=90)
    run.refresh_from_db()
    steps = list(run.steps.all())
    assert all(s.status in ("completed", "failed", "skipped") for s in steps), [(s.key, s.status) for s in steps]
    for step in steps:
        if step.status == "failed":
            assert step.error.strip(), step.key
    if run.status != "completed":
        assert any(s.status == "failed" for s in steps) and "fail" in run.log.lower()
    assert run.files.count() > 0
    for step in steps:  # a completed step stored each file the model was asked for, once
        if step.status == "completed" and step.key in FILES:
            stored = sorted(run.files.filter(step=step).values_list("path", flat=True))
            assert stored == sorted(f["path"] for f in FILES[step.key]), (step.key, stored)
    counts = audit_log(fake, LLMQuery.objects.filter(run_id=run.run_id), min_fault_kinds=2)
    print(f"codegen under faults: {run.status}, steps {[(s.key, s.status, s.error[:150]) for s in steps if s.status != 'completed']}, faults {counts}")


def test_20_artifacts(owner, owner_client, fake, providers, faulty_workers):
    from artifacts.models import BatchRun, NoteArtifact
    from notes.models import Note

    notes = [Note.objects.create(owner=owner, page_title=f"Page {n}", body=f"Body of note {n} about topic {n}.")
             for n in range(20)]
    fake.set_default(Reply(text="A short summary of the note."))
    fake.set_faults(**FAULTS)
    worker = faulty_workers("art")
    response = owner_client.post("/api/artifacts/batch", data=json.dumps(
        {"note_ids": [n.pk for n in notes], "artifact_type": "summary"}), content_type="application/json")
    assert response.status_code == 202
    batch = BatchRun.objects.get()
    artifacts = NoteArtifact.objects.filter(note__in=notes)
    wait_until(lambda: artifacts.count() == 20 and not artifacts.filter(status__in=["queued", "running"]).exists(),
               [worker], "20 artifacts to finish", timeout=60)
    for artifact in artifacts:
        assert artifact.status in ("completed", "failed"), artifact.status
        if artifact.status == "failed":
            assert artifact.error.strip()
        else:
            assert artifact.content.strip()
    data = owner_client.get(f"/api/artifacts/batch/{batch.pk}").json()
    assert data["progress"]["done"] == 20 and data["progress"]["finished"]
    counts = audit_log(fake, min_fault_kinds=2)
    print(f"artifacts under faults: {data['progress']}, faults {counts}")


def test_20_product_generations(owner, fake, providers, faulty_workers):
    from products import bulk
    from products.models import BulkGenerationItem
    from products.tests.fakes import SmartModel

    from .catalog import dimmer_catalog

    dimmers = dimmer_catalog()
    model = SmartModel()
    model.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9, "reason": "r"}
    fake.set_default(model)
    fake.set_faults(**FAULTS)
    workers = [faulty_workers("prod")]
    job = bulk.create_job(owner=owner, inputs=[f"Glide dimmer {n} 600 W" for n in range(20)], provider_name="openai",
                          model_name="gpt-4o-mini")
    items = BulkGenerationItem.objects.filter(job=job)
    wait_until(lambda: not items.filter(status__in=["queued", "running"]).exists(), workers,
               "20 product generations to finish", timeout=90)
    assert items.count() == 20
    for item in items:
        assert item.status in ("done", "needs_review", "failed"), item.status
        if item.status != "done":
            assert item.error.strip(), item.pk
    job.refresh_from_db()
    assert job.status == "completed" and job.done + job.failed == 20
    counts = audit_log(fake, min_fault_kinds=2)
    print(f"products under faults: done {job.done}, failed {job.failed}, "
          f"{[(i.status, i.error[:80]) for i in items if i.status != 'done']}, faults {counts}")
