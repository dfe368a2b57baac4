"""One Celery task per run: it walks the steps in order (see pipeline.execute_run)."""

from celery import shared_task
from django.db import OperationalError, transaction

from . import conf

_SOFT_LIMIT = conf.get("TASK_SOFT_TIME_LIMIT")


@shared_task(
    acks_late=True,
    soft_time_limit=_SOFT_LIMIT,
    time_limit=_SOFT_LIMIT + 60,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=60,
    max_retries=5,
    bind=True,
)
def run_codegen(self, run_pk: int, only_step: str | None = None) -> None:
    from .pipeline import StepHeld, execute_run

    try:
        execute_run(run_pk, only_step=only_step)
    except StepHeld as exc:
        # A step is claimed by another worker: it is either still working (then the run will be
        # finished when we look again) or dead (then its claim goes stale and we take over).
        raise self.retry(exc=exc, countdown=conf.get("HELD_RETRY_SECONDS"), max_retries=conf.get("HELD_MAX_RETRIES"))


def enqueue(run_pk: int, only_step: str | None = None) -> None:
    """Start (or continue) a run once the current transaction has committed."""
    transaction.on_commit(lambda: run_codegen.delay(run_pk, only_step))
