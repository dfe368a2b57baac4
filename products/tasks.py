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
def run_bulk_item(item_id: int) -> None:
    """One bulk item, all its steps (each skipped when its result exists)."""
    from .bulk import run_item

    run_item(item_id)


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, retry_backoff_max=60,
             max_retries=3)
def run_bulk_batch_pass(self, job_id: int) -> None:
    """delivery=batch: take every item as far as the delivered answers go, send the next calls as batches."""
    from .bulk import batch_pass

    batch_pass(job_id)
