from celery import shared_task
from django.db import OperationalError


@shared_task(
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=60,
    max_retries=3,
)
def run_llm_job(job_id: int) -> None:
    from .jobs import run_job

    run_job(job_id)


@shared_task(
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=60,
    max_retries=3,
)
def run_image_job(image_id: int) -> None:
    from .images import run_job

    run_job(image_id)
