"""Celery face of the pipeline: one task per batch per stage; the last batch of a stage starts the next."""

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError, transaction

from . import pipeline
from .models import SegmentationBatch, Stage


def enqueue(batch_ids: list[int]) -> None:
    """Start these batches once the current transaction commits (never before their rows exist)."""
    if batch_ids:
        ids = list(batch_ids)
        transaction.on_commit(lambda: [run_batch.delay(pk) for pk in ids])


@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=60,
    max_retries=3,
)
def run_batch(self, batch_id: int) -> str:
    batch = SegmentationBatch.objects.filter(pk=batch_id).values("run_id", "stage").first()
    if batch is None:
        return "missing"
    # The task id is the claim: a redelivered task (worker killed, acks_late) may re-enter its own batch.
    outcome = pipeline.process_batch(batch_id, self.request.id or f"local-{batch_id}")
    if outcome == "done":
        next_ids = pipeline.advance(batch["run_id"])
        if batch["stage"] == Stage.CONSOLIDATE:
            next_ids = next_ids + pipeline.pending_batches(batch["run_id"])
        enqueue(next_ids)
    return outcome


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def resume_stale_runs() -> int:
    """Re-enqueue runs whose batches were left running by a worker that died."""
    from .models import SegmentationRun

    started = 0
    for run in SegmentationRun.objects.filter(status=SegmentationRun.Status.RUNNING, batches__status=SegmentationBatch.Status.RUNNING).distinct():
        ids = pipeline.resume_run(run, stale_only=True)
        enqueue(ids)
        started += len(ids)
    return started


@worker_ready.connect
def _resume_after_worker_restart(sender=None, **kwargs):
    # Runs whose worker was killed mid-batch continue without anyone pressing "Resume".
    try:
        resume_stale_runs.delay()
    except Exception:  # the broker may be down at start-up; the resume action still works
        pass
