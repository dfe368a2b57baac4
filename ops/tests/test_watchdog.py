"""The watchdog resumes work whose worker died, and gives up (failed, with a reason) after
WATCHDOG_MAX_RESUMES. Rows are created now and the watchdog is run "an hour later"."""

from datetime import timedelta

import pytest
from django.utils import timezone

from artifacts.models import NoteArtifact
from codegen.models import CodegenRun, CodegenStep
from llm.models import LLMJob, LLMProvider
from notes.models import Note
from ops import watchdog
from ops.models import WatchdogRecord
from products.models import BulkGenerationItem, BulkGenerationJob

pytestmark = pytest.mark.django_db


def later(hours=1):
    return timezone.now() + timedelta(hours=hours)


def waiting(task_name):
    return watchdog.waiting_messages(task_name)


@pytest.fixture
def codegen_run(owner):
    run = CodegenRun.objects.create(owner=owner, run_id="RUN_20261123T120000Z_abcd", name="Todo", description="A todo app",
                                    stack="FastAPI", status=CodegenRun.Status.RUNNING)
    CodegenStep.objects.create(run=run, key="1", position=0, title="Plan", max_tokens=10,
                               status=CodegenStep.Status.COMPLETED, started_at=timezone.now(), finished_at=timezone.now())
    CodegenStep.objects.create(run=run, key="2", position=1, title="Models", max_tokens=10,
                               status=CodegenStep.Status.RUNNING, started_at=timezone.now())
    CodegenStep.objects.create(run=run, key="3.1", position=2, title="API", max_tokens=10)
    return run


def test_it_resumes_a_codegen_run_whose_worker_died(codegen_run, private_queues, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = watchdog.run(now=later())
    assert report.resumed == {"codegen.run": [codegen_run.pk]}
    codegen_run.refresh_from_db()
    assert codegen_run.status == CodegenRun.Status.QUEUED
    # The dead worker's step can be claimed at once by the re-enqueued task; the finished one stays done.
    assert dict(codegen_run.steps.values_list("key", "status")) == {"1": "completed", "2": "pending", "3.1": "pending"}
    assert waiting("codegen.tasks.run_codegen") == 1
    assert WatchdogRecord.objects.get(kind="codegen.run", object_id=codegen_run.pk).resumes == 1

    # Still queued an hour on, but its message is still waiting in the queue: left alone.
    with django_capture_on_commit_callbacks(execute=True):
        again = watchdog.run(now=later(2))
    assert again.resumed == {} and again.failed == {}
    assert waiting("codegen.tasks.run_codegen") == 1


def test_fresh_work_is_left_alone(codegen_run, private_queues):
    report = watchdog.run()
    assert report.resumed == {} and report.failed == {}
    assert CodegenRun.objects.get(pk=codegen_run.pk).status == CodegenRun.Status.RUNNING


def test_a_run_resumed_too_often_is_failed_with_the_reason(codegen_run, private_queues, settings):
    settings.WATCHDOG_MAX_RESUMES = 2
    WatchdogRecord.objects.create(kind="codegen.run", object_id=codegen_run.pk, resumes=2)
    report = watchdog.run(now=later())
    assert report.failed == {"codegen.run": [codegen_run.pk]}
    codegen_run.refresh_from_db()
    assert codegen_run.status == CodegenRun.Status.FAILED
    assert "watchdog" in codegen_run.error and "resumed 2 time(s)" in codegen_run.error
    assert codegen_run.failing_step == "2"
    assert dict(codegen_run.steps.values_list("key", "status")) == {"1": "completed", "2": "failed", "3.1": "skipped"}
    assert waiting("codegen.tasks.run_codegen") == 0
    assert WatchdogRecord.objects.get(kind="codegen.run", object_id=codegen_run.pk).failed_at is not None


def test_it_resumes_a_stale_llm_job(owner, providers, private_queues, django_capture_on_commit_callbacks):
    job = LLMJob.objects.create(user=owner, provider=LLMProvider.objects.get(name="openai"), prompt="hi",
                                status=LLMJob.Status.RUNNING, claimed_at=timezone.now())
    fresh = LLMJob.objects.create(user=owner, provider=LLMProvider.objects.get(name="openai"), prompt="hi",
                                  status=LLMJob.Status.RUNNING, claimed_at=later())
    with django_capture_on_commit_callbacks(execute=True):
        report = watchdog.run(now=later())
    assert report.resumed == {"llm.job": [job.pk]}
    job.refresh_from_db()
    assert job.status == LLMJob.Status.QUEUED
    assert LLMJob.objects.get(pk=fresh.pk).status == LLMJob.Status.RUNNING
    assert waiting("llm.tasks.run_llm_job") == 1


def test_a_lost_artifact_message_is_re_enqueued_and_a_hopeless_one_failed(owner, private_queues, settings,
                                                                          django_capture_on_commit_callbacks):
    note = Note.objects.create(owner=owner, body="text")
    lost = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary")  # queued, its message gone
    dying = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary", status="running")
    WatchdogRecord.objects.create(kind="artifacts.artifact", object_id=dying.pk, resumes=settings.WATCHDOG_MAX_RESUMES)
    with django_capture_on_commit_callbacks(execute=True):
        report = watchdog.run(now=later())
    assert report.resumed == {"artifacts.artifact": [lost.pk]}
    assert report.failed == {"artifacts.artifact": [dying.pk]}
    assert waiting("artifacts.tasks.generate_artifact") == 1
    dying.refresh_from_db()
    assert dying.status == "failed" and "Stopped by the watchdog" in dying.error and dying.finished_at


def test_a_bulk_item_resumed_too_often_fails_and_the_job_counts_it(owner, private_queues, settings):
    job = BulkGenerationJob.objects.create(owner=owner, total=1)
    item = BulkGenerationItem.objects.create(job=job, position=1, raw_input="a lamp", status="running")
    WatchdogRecord.objects.create(kind="products.bulk_item", object_id=item.pk, resumes=settings.WATCHDOG_MAX_RESUMES)
    watchdog.run(now=later())
    item.refresh_from_db()
    job.refresh_from_db()
    assert item.status == "failed" and "WATCHDOG_MAX_RESUMES" in item.error
    assert job.failed == 1


def test_the_task_runs_all_kinds_and_reports(codegen_run, private_queues, celery_eager):
    from ops.tasks import watchdog as task

    result = task.delay().get()
    assert set(result) == {"resumed", "failed", "segmentation_batches", "errors"}
    assert result["errors"] == []
