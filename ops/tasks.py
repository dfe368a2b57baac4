"""Periodic jobs (CELERY_BEAT_SCHEDULE), all on the bulk queue: thin tasks around ops/watchdog.py
and ops/retention.py. Their time limits are their own, well under a beat interval."""

from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def watchdog() -> dict:
    """Resume (or, after WATCHDOG_MAX_RESUMES, fail) work whose worker died."""
    from . import watchdog as dog

    return dog.run().as_dict()


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1860)
def apply_log_retention() -> dict:
    """Compress interaction files older than LLM_LOG_RETENTION_DAYS (see ops/retention.py)."""
    from . import retention

    return retention.apply().as_dict()
