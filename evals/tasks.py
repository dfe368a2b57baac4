"""Celery face of the runner (the bulk queue): one task per experiment at a time, each running
EVALS_CONCURRENCY cases at once for at most EVALS_TASK_SECONDS, then handing over to a fresh task."""

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import OperationalError

from . import batch_delivery, queueing, runner
from .models import Experiment


enqueue = queueing.enqueue  # after commit: a batch pass (delivery=batch) or run_experiment


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, retry_backoff_max=60, max_retries=3)
def run_batch_pass(experiment_id: int) -> int:
    """delivery=batch: score what delivered answers allow and send the next provider batches."""
    return batch_delivery.batch_pass(experiment_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, retry_backoff_max=60, max_retries=3)
def run_experiment(experiment_id: int) -> str:
    experiment = runner.work(experiment_id, seconds=settings.EVALS_TASK_SECONDS)
    if runner.has_claimable(experiment_id):
        run_experiment.delay(experiment_id)
        return "continued"
    return experiment.status


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def resume_stale_experiments() -> list[int]:
    """Experiments with a claim whose worker died: enqueue them again (their other cases go on)."""
    ids = runner.stale_experiments()
    for pk in ids:
        if Experiment.objects.filter(pk=pk, delivery="batch").exists():
            # A pass that died mid-way; one waiting on its provider batch does nothing (the beat poll moves it on).
            run_batch_pass.delay(pk)
        else:
            run_experiment.delay(pk)
    return ids


@worker_ready.connect
def _resume_after_worker_restart(sender=None, **kwargs):
    try:
        resume_stale_experiments.delay()
    except Exception:  # the broker may be down at start-up; `manage.py eval resume` still works
        pass


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def run_scheduled() -> dict[str, str]:
    """The beat entry ``evals-scheduled``: an experiment per suite in EVALS_SCHEDULE (evals/scheduling.py)."""
    from . import scheduling

    return scheduling.start_scheduled()
