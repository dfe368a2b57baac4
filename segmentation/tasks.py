"""Celery face of the pipeline: one task per batch per stage; the last batch of a stage starts the next."""

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError, transaction

from . import pipeline


def enqueue(batch_ids: list[int]) -> None:
    """Start these batches once the current transaction commits (never before their rows exist)."""
    if batch_ids:
        ids = list(batch_ids)
        transaction.on_commit(lambda: [run_batch.delay(pk) for pk in ids])


def start(run_id: str, batch_ids: list[int]) -> None:
    """Start a run's work after commit: its batches one task each, or (delivery=batch) a batch pass."""
    if pipeline.Run.objects.filter(pk=run_id, delivery="batch").exists():
        pipeline.send_pass(run_id)
    else:
        enqueue(batch_ids)


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
    # The task id is the claim: a redelivered task (worker killed, acks_late) may re-enter its own batch.
    return pipeline.run_one(batch_id, self.request.id or f"local-{batch_id}", start=enqueue)


@shared_task(
    acks_late=True,
    soft_time_limit=1800,
    time_limit=1860,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=60,
    max_retries=3,
)
def run_batch_pass(run_id: str) -> int:
    """delivery=batch: run the run on from delivered answers and send its next provider batch."""
    return pipeline.batch_pass(run_id)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def resume_stale_runs() -> int:
    """Re-enqueue the work of runs whose worker died (heartbeat older than
    SEGMENTATION_HEARTBEAT_STALE_SECONDS) or whose queue went quiet; fail a run after
    SEGMENTATION_MAX_RESUMES automatic resumes. Cheap and idempotent: sent when a worker starts
    and by the beat watchdog; when nothing is stale it is two indexed queries."""
    started = 0
    for run_id in pipeline.stale_run_ids():
        # A batch run waiting on its provider batch is not stale: the beat poll moves it on (a
        # resume here would ask its calls one by one, at full price).
        if pipeline.waiting_on_provider_batch(run_id):
            continue
        ids = pipeline.resume_stale(run_id)
        start(run_id, ids)
        started += len(ids)
    return started


@worker_ready.connect
def _resume_after_worker_restart(sender=None, **kwargs):
    # Runs whose worker was killed mid-batch continue without anyone pressing "Resume". The
    # dead worker's heartbeat may still look fresh right now: look again once it cannot. (A timer
    # thread rather than a countdown: an ETA task held by a solo worker can stall its consumer.)
    import threading

    from . import conf

    def send():
        try:
            resume_stale_runs.delay()
        except Exception:  # the broker may be down at start-up; the watchdog and the resume action still work
            pass

    send()
    timer = threading.Timer(conf.heartbeat_stale_seconds() + 1, send)
    timer.daemon = True
    timer.start()
