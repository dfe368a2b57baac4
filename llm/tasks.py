"""Thin Celery tasks: primary keys in, the work in jobs.py / images.py, an explicit retry schedule."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

# Seconds to wait before each retry when the database is unreachable.
RETRY_SCHEDULE = [5, 30, 120]
SOFT_LIMIT, HARD_LIMIT = 600, 660


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
            status="failed", error=f"Stopped: the job ran longer than its {SOFT_LIMIT} s time limit."
        )


@shared_task(bind=True, acks_late=True, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def run_llm_job(self, job_id: int) -> None:
    from .jobs import run_job
    from .models import LLMJob

    _run(self, LLMJob, job_id, run_job)


@shared_task(bind=True, acks_late=True, soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def run_image_job(self, image_id: int) -> None:
    from .images import run_job
    from .models import GeneratedImage

    _run(self, GeneratedImage, image_id, run_job)
