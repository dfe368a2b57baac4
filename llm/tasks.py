"""Thin Celery tasks: primary keys in, the work in jobs.py / images.py, an explicit retry schedule."""

import logging

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

# Seconds to wait before each retry when the database is unreachable.
RETRY_SCHEDULE = [5, 30, 120]
# Time limits: the queue's (CELERY_QUEUE_TIME_LIMITS; interactive for prompt jobs, images for images).


def _run(task, model, pk: int, runner) -> None:
    try:
        runner(pk)
    except OperationalError as exc:
        try:
            model.objects.filter(pk=pk, status="running").update(status="queued")
        except OperationalError:
            pass
        retries = task.request.retries
        if retries >= len(RETRY_SCHEDULE):
            model.objects.filter(pk=pk).update(
                status="failed", error=f"Gave up after {retries} retries: the database was unreachable ({exc})."
            )
            return
        raise task.retry(exc=exc, countdown=RETRY_SCHEDULE[retries], max_retries=len(RETRY_SCHEDULE))
    except SoftTimeLimitExceeded:
        model.objects.filter(pk=pk).update(
            status="failed", error=f"Stopped: the job ran longer than its {getattr(task, 'soft_time_limit', None) or '?'} s time limit."
        )


@shared_task(bind=True, acks_late=True)
def run_llm_job(self, job_id: int) -> None:
    from .calls.jobs import run_job
    from .models import LLMJob

    _run(self, LLMJob, job_id, run_job)


@shared_task(bind=True, acks_late=True)
def run_image_job(self, image_id: int) -> None:
    from .calls.images import run_job
    from .models import GeneratedImage

    _run(self, GeneratedImage, image_id, run_job)


@shared_task(acks_late=True)
def rebuild_recent_rollups(days: int | None = None) -> int:
    """Recompute the last ``days`` days of UsageDaily (beat, hourly): repairs any drift, e.g. calls
    that settled after their day was counted. Safe to run twice (a delete and insert per range)."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from .records.rollups import rebuild

    days = settings.LLM_ROLLUP_DAYS if days is None else days
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}.")
    today = timezone.now().date()
    return rebuild(start=today - timedelta(days=days - 1), end=today)


@shared_task(acks_late=True)
def prune_cache() -> int:
    """Delete expired answer-cache entries (beat, every few hours)."""
    from .calls.cache import prune_expired

    return prune_expired()


def _warm_up(**kwargs) -> None:
    from .calls import warm_up

    try:
        warm_up()
    except Exception:  # never stop a worker from starting: the first call pays instead
        pass


# Prefork children warm themselves; a solo or threads worker warms in its only process.
worker_process_init.connect(_warm_up, weak=False)
worker_ready.connect(_warm_up, weak=False)


def _repair_interactions(**kwargs) -> None:
    """Store the files a killed process left in its journal (llm/records/interaction_writer.py)."""
    from .records.interaction_writer import repair

    try:
        repair()
    except Exception:  # never stop a worker from starting; `manage.py llm repair-interactions` does it too
        logging.getLogger(__name__).exception("Could not repair the interaction journals")


worker_ready.connect(_repair_interactions, weak=False)


@shared_task(acks_late=True)
def poll_batches() -> int:
    """Poll the provider batches (beat, every LLM_BATCH_POLL_INTERVAL s): each batch is claimed with a
    lease, so two workers never poll the same one and a killed worker's batch is taken over."""
    from .batch.service import poll_due

    return poll_due()
